"""Where anonymized frames go: one table of option -> opener over the sink seam.

Every sink takes BGR ``uint8 (H, W, 3)`` frames of the size it was opened with, and is a context manager
whose ``close()`` is safe to call twice (``base.Sink``). The outputs of a live run are opened together from
``OUTPUTS``, in its order, as one ``FanOut``; each row checks its option before the camera opens (a bad
``--output`` or ``--push`` costs nothing) and opens its sink once the picture's size is known. The modules
behind the rows load only when their option is used (PyAV, pyvirtualcam, aiohttp take time to import).

``vcam`` (the virtual camera), ``file`` (``--output``), ``preview`` (``--preview``, the window drawn by
``window`` in a process of its own), ``push`` (``--push`` to SRT/RTMP); the web page and stream
(``--serve``) are ``livecam.serve``'s, a started server handed in with ``Started``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from livecam.errors import LivecamError
from livecam.outputs.base import Closing, FanOut, NullSink, Sink, states

if TYPE_CHECKING:
    from livecam.audio import AudioTap
    from livecam.serve import Address, WebServer

__all__ = ["OUTPUTS", "Closing", "FanOut", "Format", "NullSink", "Outputs", "Sink", "Started", "check_outputs",
           "open_outputs", "states"]


@dataclass(frozen=True)
class Outputs:
    """Where a live run sends its video (set on the command line, or by the tray)."""

    vcam: bool = True
    preview: bool = False
    record: Path | None = None
    overwrite: bool = False  # the recording may replace an existing file
    serve: Address | None = None  # --serve: the web page and MJPEG stream
    push: str | None = None  # --push: an srt:// or rtmp:// receiver
    vcam_device: str | None = None  # the virtual camera device (settings' vcam_device)
    vcam_backend: str | None = None  # pyvirtualcam's backend by name (benchmarks and tests register their own)


@dataclass(frozen=True)
class Started:
    """What is running before the outputs open: the ``--serve`` server (bound before the camera opens: a port
    in use costs nothing) and a network camera's sound for ``--push``."""

    web: WebServer | None = None
    sound: AudioTap | None = None


@dataclass(frozen=True)
class Output:
    """One row of the table: whether the option is used (``wanted``), its ``check`` before the camera opens
    (``camera``: its spec), and ``open`` once the picture's size is known."""

    name: str
    wanted: Callable[[Outputs, Started], bool]
    open: Callable[[Outputs, Format, Started], Sink]
    check: Callable[[Outputs, str | None], None] = lambda outputs, camera: None


@dataclass(frozen=True)
class Format:
    """The picture every output is opened for: ``width`` x ``height`` pixels, ``fps`` frames a second."""

    width: int
    height: int
    fps: float


def _web(o: Outputs, f: Format, started: Started) -> Sink:
    assert started.web is not None
    return started.web.sink()


def _check_push(o: Outputs, camera: str | None) -> None:
    from livecam.outputs.push import check_push_url

    assert o.push is not None
    check_push_url(o.push)


def _push(o: Outputs, f: Format, started: Started) -> Sink:
    from livecam.outputs.push import PushSink

    assert o.push is not None
    return PushSink(o.push, f.width, f.height, f.fps, audio=started.sound)


def _vcam(o: Outputs, f: Format, started: Started) -> Sink:
    from livecam.outputs.vcam import VirtualCameraSink

    return VirtualCameraSink(f.width, f.height, f.fps, device=o.vcam_device, backend=o.vcam_backend)


def _check_file(o: Outputs, camera: str | None) -> None:
    from livecam.outputs.file import check_recording

    assert o.record is not None
    check_recording(o.record, o.overwrite, camera)


def _file(o: Outputs, f: Format, started: Started) -> Sink:
    from livecam.outputs.file import FileSink

    assert o.record is not None
    return FileSink(o.record, f.width, f.height, f.fps, overwrite=o.overwrite)


def _preview(o: Outputs, f: Format, started: Started) -> Sink:
    from livecam.outputs.preview import PreviewSink

    return PreviewSink()


OUTPUTS: tuple[Output, ...] = (
    Output("--serve", lambda o, started: started.web is not None, _web),
    Output("--push", lambda o, started: o.push is not None, _push, _check_push),
    Output("virtual camera", lambda o, started: o.vcam, _vcam),
    Output("--output", lambda o, started: o.record is not None, _file, _check_file),
    Output("--preview", lambda o, started: o.preview, _preview),
)


def check_outputs(outputs: Outputs, camera: str | None) -> None:
    """Every option's own check, before the camera opens."""
    for row in OUTPUTS:
        if row.wanted(outputs, Started()):
            row.check(outputs, camera)


def open_outputs(outputs: Outputs, fmt: Format, started: Started = Started()) -> FanOut:
    """The outputs asked for, as one sink (closed together; the web server too); none at all is an error."""
    sinks: list[Sink] = []
    try:
        for row in OUTPUTS:
            if row.wanted(outputs, started):
                sinks.append(row.open(outputs, fmt, started))
    except BaseException:
        FanOut(sinks).close()
        raise
    if not sinks:
        raise LivecamError("nothing to send the video to: drop --no-vcam, or add --preview, --serve PORT, "
                           "--push URL or --output FILE")
    return FanOut(sinks)
