"""``livecam run --serve [HOST:]PORT``: the anonymized output on a local web server.

For apps that cannot use a virtual camera (Flatpak/Wayland browsers, macOS/Windows setups where OBS
owns the virtual camera) and for OBS itself (a Browser Source or a Media Source):

* ``/stream.mjpg``: the output as MJPEG (``multipart/x-mixed-replace``): OBS Media/Browser Source,
  an ``<img>`` tag, VLC;
* ``/view``: a page with just the picture, sized to the window (an OBS Browser Source), over WebRTC
  (``POST /offer`` signalling; aiortc encodes the output, newest frame wins), MJPEG where WebRTC
  does not connect or with ``?mjpeg``;
* ``/``: the control page: the state (with its reason), effect, strength, presenter mode, privacy
  screen, anonymizing on/off, and the live picture; it sends the tray's commands through the
  pipeline's own command queue;
* ``/status``: the state as JSON; ``/events``: the same as server-sent events, one per change.

Only output frames leave: ``WebSink`` is one more output of the pipeline, beside the virtual camera,
so it gets exactly what the virtual camera gets, obscured fail-closed frames included; nothing here
can reach the camera. Each client gets the newest frame (a slow client skips frames; nothing
queues), and frames are JPEG-encoded in the server's own thread, only while someone watches.

Security: loopback (127.0.0.1) by default, and then the Host header must name the loopback (a web page
cannot reach the server through DNS rebinding) and a command's Origin must be the server's own.
Any other address needs the token (generated on first use, stored 0600 in the config folder, shown
once) on every request, the stream included: ``Authorization: Bearer TOKEN`` or ``?token=TOKEN``.
Turning anonymizing off needs the token even on loopback (and the page asks for a confirmation).

The asyncio loop lives in its own thread, fed by the pipeline, never the other way round (aiortc's
server example has the same shape).
"""

from livecam.serve.protocol import (DEFAULT_HOST, TOGGLES, VALUES, Address, command_from_json, load_or_create_token,
                                    parse_address, status_json, token_path)
from livecam.serve.server import WebServer, WebSink

__all__ = ["DEFAULT_HOST", "TOGGLES", "VALUES", "Address", "WebServer", "WebSink", "command_from_json",
           "load_or_create_token", "parse_address", "status_json", "token_path"]
