"""The virtual camera (pyvirtualcam: v4l2loopback on Linux, the OBS Virtual Camera elsewhere)."""

from __future__ import annotations

import logging
import sys

import numpy as np

from livecam.errors import DeviceError
from livecam.outputs.base import Closing

log = logging.getLogger(__name__)


V4L2LOOPBACK_HELP = (
    "no virtual camera device: install and load v4l2loopback, e.g. on Debian/Ubuntu "
    "`sudo apt install v4l2loopback-dkms` then "
    "`sudo modprobe v4l2loopback devices=1 video_nr=10 card_label=livecam exclusive_caps=1` "
    "(exclusive_caps=1 is what Chrome and other browsers need to list it)"
)
OBS_HELP = ("no virtual camera device: install OBS Studio (https://obsproject.com), start its Virtual Camera "
            "once so that it is registered, then stop it and run livecam again")


def vcam_help() -> str:
    return V4L2LOOPBACK_HELP if sys.platform.startswith("linux") else OBS_HELP


class VirtualCameraSink(Closing):
    """pyvirtualcam's ``Camera`` in BGR (v4l2loopback on Linux, the OBS Virtual Camera elsewhere)."""

    def __init__(self, width: int, height: int, fps: float, device: str | None = None, backend: str | None = None):
        import pyvirtualcam

        try:
            self._cam = pyvirtualcam.Camera(width, height, fps, fmt=pyvirtualcam.PixelFormat.BGR, device=device,
                                            backend=backend)
        except Exception as e:  # pyvirtualcam gathers every backend's error into one RuntimeError
            detail = " / ".join(line.strip() for line in str(e).splitlines() if line.strip())
            without = "; or add --no-vcam to run without one (--output records, --preview shows, --serve serves)"
            if device:
                raise DeviceError(f"cannot open virtual camera {device}: {detail}; {vcam_help()}{without}") from None
            raise DeviceError(f"{vcam_help()} ({detail}){without}") from None
        self.device = self._cam.device
        log.info("virtual camera: %s (%s), %dx%d @ %g fps", self.device, self._cam.backend, width, height, fps)

    def send(self, frame_bgr: np.ndarray) -> None:
        self._cam.send(frame_bgr)

    def close(self) -> None:
        cam, self._cam = getattr(self, "_cam", None), None
        if cam is not None:
            cam.close()
