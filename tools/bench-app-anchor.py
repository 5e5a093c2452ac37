#!/usr/bin/python3
"""The anchor `earshot-node bench app` runs beside the app: a bare WebKitGTK window (the same
WebKit2GTK 4.1 library Tauri uses on Linux, the same window size) showing a one-line page, with
no Rust, no engine and no UI framework. It reports its first view exactly as the app does — the
page waits two animation frames after load, tells this script, and it prints
`earshot: first view N ms` on stderr (N on the page's clock) — then idles until killed. What the
app costs beyond it is Earshot's own. (Python and PyGObject add ~15 MB to this UI process.) It
runs WebKit as the app does (src-tauri/src/rendering.rs): without a GPU render node in /dev/dri
compositing is off, and WebKit's memory-pressure monitor is off, unless the variables are set already.

Needs Debian's python3-gi and gir1.2-webkit2-4.1 (hence /usr/bin/python3, not a virtualenv's)."""
import os
import sys

import gi

# As src-tauri/src/rendering.rs decides, before WebKit is loaded.
try:
    DRI = os.listdir("/dev/dri")
except OSError:
    DRI = []
if not any(name.startswith("renderD") for name in DRI):
    os.environ.setdefault("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
os.environ.setdefault("WEBKIT_DISABLE_MEMORY_PRESSURE_MONITOR", "1")

gi.require_version("Gtk", "3.0")
gi.require_version("WebKit2", "4.1")
from gi.repository import Gtk, WebKit2  # noqa: E402

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>anchor</title></head>
<body><p>Hello from a bare web view.</p>
<script>
requestAnimationFrame(() => requestAnimationFrame(() =>
  window.webkit.messageHandlers.firstView.postMessage(String(performance.now()))));
</script></body></html>"""

reported = False


def on_first_view(_manager, result):
    global reported
    if reported:
        return
    reported = True
    value = result.get_js_value() if hasattr(result, "get_js_value") else result
    page_ms = float(value.to_string())
    print(f"earshot: first view {round(max(page_ms, 0.0))} ms", file=sys.stderr, flush=True)


def main():
    manager = WebKit2.UserContentManager()
    manager.connect("script-message-received::firstView", on_first_view)
    manager.register_script_message_handler("firstView")
    view = WebKit2.WebView.new_with_user_content_manager(manager)
    window = Gtk.Window(title="anchor")
    window.set_default_size(1120, 740)
    window.add(view)
    window.connect("destroy", Gtk.main_quit)
    window.show_all()
    view.load_html(PAGE, "about:blank")
    Gtk.main()


if __name__ == "__main__":
    main()
