#!/usr/bin/env bash
# Jam sync through real cpal and PulseAudio, measured with ../shared/syncmeter/ (issue #10):
# two earshot-node peers in a jam (`earshot-node jam-demo host|join`), A on the meter's left,
# B on its right, each printing the meter's JSON, in one sitting:
#
#   jam_plain           the two peers on loopback
#   jam_link            B in a network namespace behind ../shared/netlab/tunlink.py, 30 ± 10 ms
#                       each way (A in the other namespace; PulseAudio's unix socket crosses)
#   jam_faketime        B under `faketime -f +7s` (libfaketime shifts CLOCK_MONOTONIC too, so
#                       B's engine clock is far from A's — see FAKETIME below)
#   jam_clock_offset    B with EARSHOT_CLOCK_OFFSET_MS=7300 (the engine's own knob)
#   scheduled           two `earshot-node play --at-unix-ms T` processes (no jam)
#   paplay              two paplay: the floor of the chain
#   snapcast_plain      ../shared/syncmeter/snapcast_test.sh: the anchor
#   snapcast_link       snapcast_test.sh -n '30 10 30 10'
# and the sound quality (1 kHz tone through quality.py: THD+N, glitches) for jam_plain, jam_link,
# scheduled, paplay and snapcast_plain (suffix _quality).
#
#   tests/sync/jam_syncmeter.sh [-d SEC] [-s SEC] [-o DIR] [-b earshot-node] [CASE...]
#
# A benchmark, not a test: it needs root (namespaces), pulseaudio, sox, python3 with numpy and
# scipy, faketime, snapserver/snapclient, and a release earshot-node
# (`cargo build --release --workspace --locked -p earshot-node`); it says what is missing and exits 3,
# and exits 4 when any case gave no figures (it never passes silently).
set -uo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
SHARED="${SHARED:-$ROOT/../shared}"
METER="$SHARED/syncmeter"
NETLAB="$SHARED/netlab"
NODE="$ROOT/target/release/earshot-node"
DUR=30
SKIP=5
OUT=""
while getopts "d:s:o:b:h" opt; do
  case "$opt" in
    d) DUR="$OPTARG" ;;
    s) SKIP="$OPTARG" ;;
    o) OUT="$OPTARG" ;;
    b) NODE="$OPTARG" ;;
    *) sed -n '2,24p' "$0"; exit 2 ;;
  esac
done
shift $((OPTIND - 1))
CASES=("$@")
[ ${#CASES[@]} -eq 0 ] && CASES=(jam_plain jam_plain_quality jam_link jam_link_quality jam_faketime
  jam_clock_offset scheduled scheduled_quality paplay paplay_quality snapcast_plain
  snapcast_plain_quality snapcast_link)

missing=()
for cmd in pulseaudio pactl parecord paplay sox faketime snapserver snapclient ip; do
  command -v "$cmd" >/dev/null || missing+=("$cmd")
done
/usr/bin/python3 -c 'import numpy, scipy' 2>/dev/null || missing+=("python3-numpy python3-scipy")
[ -x "$NODE" ] || missing+=("$NODE (cargo build --release --workspace --locked -p earshot-node)")
[ -x "$METER/syncmeter.sh" ] || missing+=("$METER/syncmeter.sh")
[ "$(id -u)" = 0 ] || missing+=("root (for the network namespaces)")
if [ ${#missing[@]} -gt 0 ]; then
  echo "jam_syncmeter: missing: ${missing[*]}" >&2
  echo "  apt-get install -y --no-install-recommends pulseaudio pulseaudio-utils sox python3-numpy python3-scipy faketime snapserver snapclient iproute2" >&2
  exit 3
fi

WORK="$(mktemp -d /tmp/jam-syncmeter.XXXXXX)"
LINK_PID=""
cleanup() {
  [ -n "$LINK_PID" ] && kill -TERM "$LINK_PID" 2>/dev/null && wait "$LINK_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
TONE="$WORK/tone/tone.wav"
mkdir -p "$WORK/tone"
sox -n -r 48000 -c 2 -b 16 "$TONE" synth $((DUR + SKIP + 40)) sine 1000 vol 0.5

# The players. Each gets a private data dir and its own copy of the signal (a folder of its own
# for the library to scan); the pair dir is where the host leaves its invite link.
export EARSHOT_KEYRING=off RUST_LOG=warn
# The meter needs numpy and scipy: the system Python has them.
export SYNCMETER_PYTHON="${SYNCMETER_PYTHON:-/usr/bin/python3}"
PREP='D="$SM_DIR/$SM_SINK"; mkdir -p "$D/music" "$D/data"; cp "$SM_SIGNAL" "$D/music/"; F="$D/music/$(basename "$SM_SIGNAL")"'
HOST_ARGS='--data-dir "$D/data" --no-mdns jam-demo host "$F" --pair-dir "$SM_DIR/pair"'
JOIN_ARGS='--data-dir "$D/data" --no-mdns jam-demo join --pair-dir "$SM_DIR/pair" --file "$F"'
LOOP='--listen /ip4/127.0.0.1/tcp/0'
NS_A=esjam$$a
NS_B=esjam$$b
# At T: a helper writes T (2.5 s ahead) once both players can read it.
AT_HELPER='echo $(( $(date +%s%3N) + 4000 )) > "$SM_DIR/at.part" && mv "$SM_DIR/at.part" "$SM_DIR/at"; exec sleep 100000'
AT_WAIT='while [ ! -s "$SM_DIR/at" ]; do sleep 0.05; done; T=$(cat "$SM_DIR/at")'
SCHED='exec "'$NODE'" --data-dir "$D/data" --offline play "$F" --at-unix-ms $T'

link_up() {
  /usr/bin/python3 "$NETLAB/tunlink.py" --ns-a "$NS_A" --ns-b "$NS_B" --delay-ms 30 --jitter-ms 10 \
    >"$WORK/link.out" 2>"$WORK/link.err" &
  LINK_PID=$!
  for _ in $(seq 100); do
    grep -q '"up": true' "$WORK/link.out" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "jam_syncmeter: tunlink.py did not come up: $(cat "$WORK/link.err")" >&2
  return 1
}

link_down() {
  [ -n "$LINK_PID" ] && kill -TERM "$LINK_PID" 2>/dev/null && wait "$LINK_PID" 2>/dev/null
  LINK_PID=""
  ip netns del "$NS_A" 2>/dev/null; ip netns del "$NS_B" 2>/dev/null
}

# meter NAME [syncmeter options...] 'A' 'B': prints {"case": NAME, ...the meter's JSON...}
meter() {
  local name="$1"; shift
  local dir="$WORK/$name"
  local quality=0
  case "$name" in *_quality) quality=1 ;; esac
  local opts=(-d "$DUR" -s "$SKIP" -o "$dir")
  [ $quality = 1 ] && opts+=(-f "$TONE")
  local json
  json="$("$METER/syncmeter.sh" "${opts[@]}" "$@" 2>"$WORK/$name.err" | tail -n 1)"
  report "$name" "$json" "$dir" $quality
}

# A case that gives no figures counts as failed: the script then exits 4 (it never passes silently).
FAILED=0
fail_case() { # fail_case NAME REASON
  echo "{\"case\": \"$1\", \"error\": \"$2\"}"
  FAILED=$((FAILED + 1))
}

report() {
  local name="$1" json="$2" dir="$3" quality="$4"
  if [ -z "$json" ] || ! /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[1]); sys.exit(0 if "error" not in d and ("median_ms" in d or "windows" in d) else 1)' "$json" 2>/dev/null; then
    fail_case "$name" "no result (see $WORK/$name.err)"
    return
  fi
  if [ "$quality" = 1 ] && [ -f "$dir/rec.raw" ]; then
    local q
    q="$(/usr/bin/python3 "$METER/quality.py" "$dir/rec.raw" 2>>"$WORK/$name.err" | tail -n 1)"
    json="$(/usr/bin/python3 -c 'import json,sys; m=json.loads(sys.argv[1]); q=json.loads(sys.argv[2] or "{}"); print(json.dumps({"quality": q, "meter_median_ms": m.get("median_ms")}))' "$json" "$q")"
  fi
  /usr/bin/python3 -c 'import json,sys; d=json.loads(sys.argv[2]); print(json.dumps({"case": sys.argv[1], **d}))' "$name" "$json" \
    || fail_case "$name" "unreadable result"
  if [ -n "$OUT" ]; then
    mkdir -p "$OUT/$name"
    cp "$WORK/$name.err" "$OUT/$name/meter.err" 2>/dev/null
    for f in "$dir"/*.log "$dir"/windows.csv; do [ -f "$f" ] && cp "$f" "$OUT/$name/"; done
  fi
  rm -f "$dir/rec.raw"
}

jam_cmds() { # jam_cmds WRAP_A WRAP_B LISTEN_A LISTEN_B
  A="$PREP; exec $1 \"$NODE\" $3 $HOST_ARGS"
  B="$PREP; exec $2 \"$NODE\" $4 $JOIN_ARGS"
}

for c in "${CASES[@]}"; do
  case "$c" in
    jam_plain | jam_plain_quality)
      jam_cmds "" "" "$LOOP" "$LOOP"
      meter "$c" "$A" "$B" ;;
    jam_link | jam_link_quality)
      link_up || { fail_case "$c" "no link"; continue; }
      jam_cmds "ip netns exec $NS_A" "ip netns exec $NS_B" \
        "--listen /ip4/10.99.0.1/tcp/0" "--listen /ip4/10.99.0.2/tcp/0"
      meter "$c" "$A" "$B"
      link_down ;;
    jam_faketime)
      jam_cmds "" "faketime -f +7s" "$LOOP" "$LOOP"
      meter "$c" "$A" "$B" ;;
    jam_clock_offset)
      jam_cmds "" "env EARSHOT_CLOCK_OFFSET_MS=7300" "$LOOP" "$LOOP"
      meter "$c" "$A" "$B" ;;
    scheduled | scheduled_quality)
      meter "$c" -P "$AT_HELPER" "$PREP; $AT_WAIT; $SCHED" "$PREP; $AT_WAIT; $SCHED" ;;
    paplay | paplay_quality)
      meter "$c" 'exec paplay "$SM_SIGNAL"' 'exec paplay "$SM_SIGNAL"' ;;
    snapcast_plain | snapcast_plain_quality | snapcast_link)
      opts=(-d "$DUR" -s "$SKIP" -o "$WORK/$c")
      q=0
      [ "$c" = snapcast_link ] && opts+=(-n '30 10 30 10')
      [ "$c" = snapcast_plain_quality ] && { opts+=(-f "$TONE"); q=1; }
      json="$("$METER/snapcast_test.sh" "${opts[@]}" 2>"$WORK/$c.err" | tail -n 1)"
      report "$c" "$json" "$WORK/$c" $q ;;
    *) fail_case "$c" "unknown case" ;;
  esac
done
[ "$FAILED" -eq 0 ] || { echo "jam_syncmeter: $FAILED case(s) gave no figures" >&2; exit 4; }
