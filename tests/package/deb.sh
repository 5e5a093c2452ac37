#!/usr/bin/env bash
# The .deb as a user gets it: builds a debug-profile .deb with the documented bundle command
# (tools/bundle, reusing the debug build of the test run), installs it with dpkg -i, checks what it
# put where (the app, earshot-node beside it, the desktop entry with its categories and the
# earshot:// handler, the icons), launches the *installed* app under Xvfb and sees its window
# rendered (a screenshot, target/gui-screenshots/package-window.png, that is not blank), runs the
# installed earshot-node as a relay the way the README says and has a second earshot-node
# (listed in friends.txt) reserve a slot on it, then removes the package and checks that none of
# its files is left.
#
#   tests/package/deb.sh        (as root on Debian/Ubuntu; ./dev test runs it)
#
# Not root, or not Debian/Ubuntu: prints why and exits 77 (skipped) — but when CI is set it fails
# instead, so CI cannot pass by skipping. An earshot package left installed by an earlier run is
# removed first; runs are serialised with a lock (two test runs on one machine share dpkg).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
SCREENSHOTS="$ROOT/target/gui-screenshots"
SKIPPED=77

say() { printf 'package: %s\n' "$*"; }
fail() { printf 'package: FAILED: %s\n' "$*" >&2; exit 1; }
skip() {
  if [ -n "${CI:-}" ]; then fail "$* (CI is set, so this is a failure, not a skip)"; fi
  say "SKIPPED: $*"
  exit "$SKIPPED"
}

# ---- inside Xvfb: launch the installed app and look at its window --------------------------------
# Run by the outer script through xvfb-run and dbus-run-session (a private session bus, so the
# single-instance handover cannot find a developer's running Earshot and exit into it).
if [ "${1:-}" = --window-check ]; then
  home="$2"
  shot="$SCREENSHOTS/package-window.png"
  mkdir -p "$SCREENSHOTS"
  HOME="$home" XDG_CONFIG_HOME="$home/.config" XDG_DATA_HOME="$home/.local/share" \
    XDG_CACHE_HOME="$home/.cache" /usr/bin/earshot --data-dir "$home/earshot-data" \
    >"$home/earshot.stdout" 2>"$home/earshot.stderr" &
  app=$!
  stop_app() {
    kill "$app" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$app" 2>/dev/null || return 0; sleep 0.1; done
    say "earshot did not stop within 5 s of SIGTERM; killing it"
    kill -KILL "$app" 2>/dev/null || true
  }
  trap stop_app EXIT
  window=""
  for _ in $(seq 300); do
    kill -0 "$app" 2>/dev/null || { cat "$home/earshot.stderr" >&2; fail "the installed earshot exited before showing a window"; }
    # A top-level window named exactly "Earshot" (xwininfo prints: 0x1e00003 "Earshot": (…) …).
    window="$(xwininfo -root -tree | sed -n 's/^ *\(0x[0-9a-f]*\) "Earshot": .*/\1/p' | head -1)"
    [ -n "$window" ] && break
    sleep 0.1
  done
  [ -n "$window" ] || { cat "$home/earshot.stderr" >&2; fail "no window named Earshot within 30 s"; }
  say "window $window is up: $(xwininfo -id "$window" | sed -n 's/^ *-geometry //p')"
  # Rendered, not blank: the web view paints a few frames after the window maps, so look until
  # the screenshot shows the interface (many colours, not one flat fill).
  colours=0
  for _ in $(seq 60); do
    import -window "$window" "$shot" 2>/dev/null || true
    colours="$(identify -format '%k' "$shot" 2>/dev/null || echo 0)"
    [ "$colours" -gt 64 ] && break
    sleep 0.5
  done
  [ "$colours" -gt 64 ] || fail "the window stayed blank for 30 s ($colours colours in $shot)"
  kill -0 "$app" 2>/dev/null || fail "the installed earshot exited after showing its window"
  say "the window shows the interface ($colours colours): $shot"
  exit 0
fi

# ---- prerequisites ---------------------------------------------------------------------------------
[ "$(uname -s)" = Linux ] || skip "the .deb test runs on Debian/Ubuntu only (this is $(uname -s))"
[ -f /etc/debian_version ] && command -v dpkg >/dev/null || skip "the .deb test needs Debian/Ubuntu (dpkg)"
[ "$(id -u)" = 0 ] || skip "installing a package needs root (run as root, or sudo -E tests/package/deb.sh)"
for cmd in xvfb-run xwininfo import identify dbus-run-session flock python3 strip; do
  command -v "$cmd" >/dev/null || skip "$cmd is missing (./dev setup installs it)"
done

# Root's own directory, not the world-writable /var/lock: nobody else can hold or replace it.
state=/var/lib/earshot-package-test
mkdir -p -m 700 "$state"
exec 9>"$state/lock"
flock 9
# Present while a package this test installed is on the system: only such a package is ever
# removed. An earshot package someone installed for real is never touched.
marker="$state/installed-by-test"

installed() { dpkg-query -W -f='${Status}' earshot 2>/dev/null | grep -q 'ok installed'; }

tmp="$(mktemp -d /tmp/earshot-package.XXXXXX)"
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  # A failed run leaves nothing behind: not the package (and its earshot:// handler) either.
  if [ -f "$marker" ] && installed; then
    dpkg -r earshot >/dev/null 2>&1 && rm -f "$marker"
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

if installed; then
  if [ -f "$marker" ]; then
    say "removing the earshot package an earlier run of this test left installed"
    dpkg -r earshot >/dev/null
    rm -f "$marker"
  else
    skip "an earshot package this test did not install is on this machine; the test will not replace or remove it (dpkg -r earshot first, if it is a leftover)"
  fi
fi

# ---- build ---------------------------------------------------------------------------------------
started=$SECONDS
bundle_args=(--debug --bundles deb)
# The test command has just built the UI and the binaries; the bundle command need not rebuild
# ui/dist (which would make cargo relink the app).
[ -f "$ROOT/ui/dist/index.html" ] && bundle_args+=(--skip-ui)
"$ROOT/tools/bundle" "${bundle_args[@]}"
deb="$(ls -t "$CARGO_TARGET_DIR"/debug/bundle/deb/Earshot_*.deb 2>/dev/null | head -1)"
[ -f "$deb" ] || fail "tools/bundle made no .deb in $CARGO_TARGET_DIR/debug/bundle/deb"
say "built $(basename "$deb") ($(($(stat -c %s "$deb") / 1000000)) MB) in $((SECONDS - started)) s"

# ---- install ---------------------------------------------------------------------------------------
touch "$marker"
# Its dependencies are the test command's own packages (./dev installs them): a missing one is a
# failure to report, not something to install (or remove others for) behind the user's back.
dpkg -i "$deb" || fail "dpkg -i failed (a dependency missing? dpkg says why above)"
dpkg-query -W -f='${Status}' earshot | grep -q 'install ok installed' || fail "earshot is not installed after dpkg -i"
dpkg -L earshot >"$tmp/files"

for file in /usr/bin/earshot /usr/bin/earshot-node; do
  [ -x "$file" ] || fail "$file is not installed (or not executable)"
done
desktop=/usr/share/applications/Earshot.desktop
[ -f "$desktop" ] || fail "no desktop entry at $desktop"
grep -qx 'Categories=AudioVideo;Audio;.*' "$desktop" || fail "the desktop entry has no audio categories: $(grep Categories "$desktop")"
grep -qx 'MimeType=.*x-scheme-handler/earshot;.*' "$desktop" || fail "the desktop entry does not handle earshot:// links"
grep -qx 'Exec=earshot %u' "$desktop" || fail "the desktop entry does not pass the clicked link to the app (Exec=earshot %u)"
for size in 32x32 64x64 128x128 256x256@2 512x512; do
  [ -f "/usr/share/icons/hicolor/$size/apps/earshot.png" ] || fail "no $size icon"
done
depends="$(dpkg-query -W -f='${Depends}' earshot)"
for dep in libasound2 libwebkit2gtk-4.1-0 libgtk-3-0; do
  [[ "$depends" == *"$dep"* ]] || fail "the package does not depend on $dep (Depends: $depends)"
done
/usr/bin/earshot-node --help >/dev/null || fail "the installed earshot-node does not run"
[ "$(command -v earshot-node)" = /usr/bin/earshot-node ] ||
  fail "earshot-node on PATH is $(command -v earshot-node), not the installed /usr/bin/earshot-node"
say "installed: $(grep -c . "$tmp/files") paths; app, earshot-node, desktop entry (categories, earshot:// handler) and icons in place"

# ---- the installed app's window ----------------------------------------------------------------------
mkdir -p "$tmp/home"
# NO_AT_BRIDGE: no accessibility bus to start on the private session bus.
EARSHOT_KEYRING=off NO_AT_BRIDGE=1 timeout --kill-after=10 120 \
  xvfb-run -a -s '-screen 0 1280x800x24' dbus-run-session -- "$0" --window-check "$tmp/home" 2>"$tmp/window.log" ||
  { cat "$tmp/window.log" >&2; fail "the installed app's window check failed"; }

# ---- the installed earshot-node as a relay, as the README says --------------------------------------------
# The README's command on loopback: its listen and external addresses with a free port instead of
# 4001, and a data directory in the temporary directory instead of ~/earshot-relay.
port="$(python3 -c 'import socket
for _ in range(50):
    t, u = socket.socket(), socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t.bind(("127.0.0.1", 0)); p = t.getsockname()[1]
    try:
        u.bind(("127.0.0.1", p)); print(p); break
    except OSError: pass
    finally: t.close(); u.close()')"
friend_dir="$tmp/friend"
# The friend's peer id (Settings shows it as "Peer id"; headless, the status call).
friend_id="$(printf '{"id":1,"call":{"type":"status"}}\n' | EARSHOT_KEYRING=off earshot-node --data-dir "$friend_dir" --offline 2>/dev/null |
  sed -n 's/.*"peer_id":"\(12D3KooW[^"]*\)".*/\1/p' | head -1)"
[ -n "$friend_id" ] || fail "could not learn the friend's peer id"
cd "$tmp"
printf '# friends allowed to use this relay\n%s\n' "$friend_id" >friends.txt
# No session bus and no keyring, as on a small server: the relay keeps its key in a key file.
env -u DBUS_SESSION_BUS_ADDRESS -u DISPLAY -u EARSHOT_KEYRING HOME="$tmp/home" earshot-node --data-dir "$tmp/earshot-relay" relay \
  --listen "/ip4/127.0.0.1/udp/$port/quic-v1" --listen "/ip4/127.0.0.1/tcp/$port" \
  --external "/ip4/127.0.0.1/udp/$port/quic-v1" --allow-file friends.txt \
  >"$tmp/relay.jsonl" 2>"$tmp/relay.log" &
PIDS+=($!)
relay_addr=""
for _ in $(seq 150); do
  relay_addr="$(sed -n 's/.*"address":"\([^"]*\/quic-v1\/p2p\/12D3KooW[^"]*\)".*/\1/p' "$tmp/relay.jsonl" | head -1)"
  [ -n "$relay_addr" ] && break
  kill -0 "${PIDS[0]}" 2>/dev/null || { cat "$tmp/relay.log" >&2; fail "the relay exited"; }
  sleep 0.1
done
[ -n "$relay_addr" ] || { cat "$tmp/relay.log" >&2; fail "the relay printed no …/p2p/12D3KooW… address within 15 s"; }
say "relay: $relay_addr"

# The friend, headless, uses the relay (`--relay`, as the README says for earshot-node).
mkfifo "$tmp/friend.in"
EARSHOT_KEYRING=off earshot-node --data-dir "$friend_dir" --listen /ip4/127.0.0.1/tcp/0 --no-mdns \
  --relay "$relay_addr" <"$tmp/friend.in" >"$tmp/friend.jsonl" 2>"$tmp/friend.log" &
PIDS+=($!)
exec 8>"$tmp/friend.in"
reserved=""
for i in $(seq 150); do
  grep '"relay":"reserved"' "$tmp/relay.jsonl" | grep -q "\"peer_id\":\"$friend_id\"" && reserved=relay
  printf '{"id":%d,"call":{"type":"status"}}\n' "$((i + 1))" >&8
  sleep 0.1
  if [ "$reserved" = relay ] && grep -q '"listen_addrs":\[[^]]*/p2p-circuit' "$tmp/friend.jsonl"; then
    reserved=both
    break
  fi
done
exec 8>&-
[ "$reserved" = both ] || { cat "$tmp/relay.jsonl" "$tmp/friend.log" >&2; fail "the friend got no reservation on the relay within 15 s (seen: ${reserved:-nothing})"; }
say "the friend in friends.txt holds a reservation on the relay (its status lists a /p2p-circuit address)"
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
wait 2>/dev/null || true
PIDS=()
cd "$ROOT"

# ---- remove --------------------------------------------------------------------------------------------
dpkg -r earshot >/dev/null && rm -f "$marker"
dpkg-query -W -f='${Status}' earshot 2>/dev/null | grep -q 'ok installed' && fail "earshot is still installed after dpkg -r"
left=()
while read -r path; do
  # Directories the package shares with the system (/usr/bin, /usr/share/…) stay, as they should.
  [ -d "$path" ] && continue
  [ -e "$path" ] || [ -L "$path" ] && left+=("$path")
done <"$tmp/files"
[ ${#left[@]} -eq 0 ] || fail "dpkg -r left files behind: ${left[*]}"
say "removed cleanly: none of the package's $(grep -c . "$tmp/files") paths is left"
say "passed in $((SECONDS - started)) s"
