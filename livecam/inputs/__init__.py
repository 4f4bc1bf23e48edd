"""Where frames come from: a camera (OpenCV), a network stream (``network``: a phone over SRT, an IP camera),
a clip replayed in real time (``replay``: tests and benchmarks).

A source's ``read()`` blocks until the next frame and returns a BGR ``uint8 (H, W, 3)`` array, or ``None``
when the device stopped delivering (unplugged, busy, end of stream). ``open_source`` is the one table of what a
``--camera`` value names: a network URL, else a camera index, device path, video file or ``demo``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Protocol

import numpy as np

from livecam.errors import CameraBusy, CameraModeUnsupported, DeviceError
from livecam.inputs.camera import DEMO, CameraSource, demo_clip

if TYPE_CHECKING:  # PyAV loads only for a network camera
    from livecam.audio import AudioTap

log = logging.getLogger(__name__)

__all__ = ["DEMO", "Camera", "CameraSource", "FrameSource", "demo_clip", "open_camera", "open_source"]


class FrameSource(Protocol):
    width: int
    height: int
    fps: float

    @property
    def index(self) -> int | None:
        """The source's own index of the frame ``read`` returned last (a replay's position in its
        frames, for tests and benchmarks that compare with labels); ``None`` where it has none (a camera)."""
        ...

    def read(self) -> np.ndarray | None: ...

    def close(self) -> None: ...


class Camera(FrameSource, Protocol):
    """A live source that a ``--camera`` value names (a device, a network stream)."""

    spec: str
    """What ``--camera`` said (or the index found when it said nothing): opens it again."""


def open_source(spec: str, size: tuple[int, int] | None = None, fps: float | None = None,
                audio: AudioTap | None = None) -> Camera:
    """The camera ``spec`` names: a network stream (``srt://``, ``rtsp://``, ``rtmp://``, ``http://``...;
    its sound, if any, to ``audio``), else a camera index, device path, video file or ``demo``."""
    from livecam.inputs.network import NetworkSource, is_network  # PyAV loads only for a network camera

    return NetworkSource(spec, size, fps, audio=audio) if is_network(spec) else CameraSource(spec, size, fps)


def open_camera(spec: str | None, size: tuple[int, int] | None = None, fps: float | None = None,
                probe: int = 5, audio: AudioTap | None = None) -> Camera:
    """Open ``spec``, or the first camera that works among indices 0..probe-1 when ``spec`` is None."""
    if spec is not None:
        try:
            return open_source(spec, size, fps, audio=audio)
        except DeviceError as e:
            if "://" in spec:
                raise
            raise DeviceError(f"{e} (list cameras with `livecam devices`)") from None
    tried = []
    for i in range(probe):
        try:
            return CameraSource(str(i), size, fps)
        except (CameraBusy, CameraModeUnsupported):
            raise  # a camera is there: say what is wrong with it rather than look further
        except DeviceError:
            tried.append(str(i))
    raise DeviceError(f"no camera found (tried indices {', '.join(tried)}); plug one in, or name it with --camera "
                      "(`livecam --camera demo --preview --no-vcam` shows livecam at work on a bundled clip)")
