"""The replay harness: a clip replayed like a camera through the real live pipeline, into the real
``pyvirtualcam.Camera`` with a recording backend (no device needed). ``livecam bench``,
``livecam eval --pan`` and the live tests drive the live path through it.
"""

from __future__ import annotations

import threading
import time
from typing import TYPE_CHECKING, Callable

import numpy as np

from livecam.settings import Settings

if TYPE_CHECKING:  # the live path is imported when a pipeline is built
    from livecam.detectors import Detector
    from livecam.live import FrameReport, LivePipeline
    from livecam.people import Describer, People
    from livecam.serve import WebServer
    from livecam.inputs import FrameSource
    from livecam.inputs.replay import ReplaySource
    from livecam.text import TextFinder

BACKEND = "livecam-recorder"


class RecordingBackend:
    """A pyvirtualcam backend that keeps what it is sent (no device needed). Registered as ``livecam-recorder``."""

    instances: list["RecordingBackend"] = []

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, keep: bool = False,
                 **kw: object):
        import pyvirtualcam
        from pyvirtualcam.util import decode_fourcc

        fmt = pyvirtualcam.PixelFormat(decode_fourcc(fourcc))
        if fmt not in (pyvirtualcam.PixelFormat.BGR, pyvirtualcam.PixelFormat.RGB):
            raise RuntimeError(f"recording backend supports RGB/BGR, not {fmt}")
        self.width, self.height, self.fps, self.fmt = width, height, fps, fmt
        self._device = device or "recorder"
        self.keep = keep
        self.frames: list[np.ndarray] = []
        self.sent_t: list[float] = []
        self.closed = 0
        self._lock = threading.Lock()
        RecordingBackend.instances.append(self)

    def send(self, frame: np.ndarray) -> None:
        with self._lock:
            self.sent_t.append(time.monotonic())
            if self.keep:
                self.frames.append(frame.reshape(self.height, self.width, 3).copy())

    def close(self) -> None:
        self.closed += 1

    def device(self) -> str:
        return self._device

    def native_fourcc(self) -> int | None:
        return None


def register() -> None:
    import pyvirtualcam

    pyvirtualcam.register_backend(BACKEND, RecordingBackend)


def replay_pipeline(settings: Settings, src: ReplaySource, on_frame: Callable[[FrameReport], None], *,
                    make_detector: Callable[[], Detector] | None = None,
                    open_source: Callable[[], FrameSource] | None = None, warm: bool = True,
                    web: WebServer | None = None, people: People | None = None,
                    make_describer: Callable[[], Describer] | None = None,
                    text_finder: TextFinder | None = None) -> LivePipeline:
    """The live pipeline with ``src`` as its camera and the real ``pyvirtualcam.Camera`` (recording
    backend) as its output; call ``.start()`` on it. ``warm``: its model loaded and its size chosen
    first (as after a warm start). ``open_source``: how the camera is reopened when it ends (default:
    the same replay); ``make_detector``: another detector than the settings' (tests); ``people``: the
    enrolled people (default: ``livecam people``'s file), ``make_describer``: their checks' model (tests);
    ``text_finder``: another finder than ``--cover``'s (tests)."""
    from livecam.live import build_pipeline
    from livecam.outputs import Format, Outputs, Started, open_outputs

    register()
    sink = open_outputs(Outputs(vcam_backend=BACKEND, vcam_device=settings.vcam_device),
                        Format(src.width, src.height, src.fps), Started(web=web))
    pipe = build_pipeline(settings, open_source or (lambda: src), sink, first_source=src,
                          make_detector=make_detector, on_frame=on_frame, people=people,
                          make_describer=make_describer, text_finder=text_finder)
    if web is not None:
        web.attach(pipe)
    if warm:
        pipe.prepare(src.frames[0])
    return pipe
