"""Face detectors. Only this package imports torch.

A detector runs one model on one frame at one width (see ``Detector``); the passes built over it are
in ``passes``.
``load_detector`` builds the right one from a model path (or the bundled CenterFace).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from livecam.detectors.bundled import default_model_path
from livecam.faces import Faces

log = logging.getLogger(__name__)

__all__ = ["Detector", "default_model_path", "live_cpu_threads", "load_detector", "set_cpu_threads"]


@runtime_checkable
class Detector(Protocol):
    """A face model: faces in a BGR ``uint8 (H, W, 3)`` frame, boxes in that frame's pixels.

    The whole seam: the passes (``livecam.detectors.passes``) are built over it, the width and the
    threshold are the caller's (``livecam.policy.DetectionPolicy``), never written into the model.
    """

    @property
    def input_size(self) -> int | None:
        """The one square input size the model takes (fixed-size exports), or ``None``: any width."""
        ...

    @property
    def on_gpu(self) -> bool:
        ...

    def detect(self, frame_bgr: np.ndarray, width: int | None, threshold: float) -> Faces:
        """Faces scoring above ``threshold``, the frame resized to ``width`` pixels wide (``None``: its
        own width, at most ``torchrun.AUTO_DETECT_WIDTH``; a fixed-size model fits it to its input)."""
        ...


def load_detector(model: str | Path | None = None, *, device: str = "auto", input_size: int | None = None,
                  live: bool = False) -> Detector:
    """Build a detector. ``model=None`` is the bundled CenterFace; an ``.onnx`` path is a YOLO face model
    (``input_size``: its input for a model exported without a fixed one). ``live``: for the live path (``auto``
    may pick the int8 backend there: ``backends.choice``)."""
    from livecam.detectors.torchrun import resolve_device

    dev = resolve_device(device)
    if model is None or str(model) == "centerface":
        from livecam.detectors.centerface import CenterFaceDetector

        return CenterFaceDetector(device=dev, request=device, live=live)
    from livecam.detectors.yolo import YoloFaceDetector

    if device == "onnxruntime":
        log.info("--device onnxruntime runs the bundled CenterFace only; %s runs on PyTorch (CPU)", model)
    return YoloFaceDetector(Path(model), device=dev, input_size=input_size)


def set_cpu_threads(n: int) -> None:
    """Threads PyTorch may use on the CPU (the live path keeps a core for capture and output)."""
    import torch

    torch.set_num_threads(max(1, int(n)))


def live_cpu_threads() -> int:
    return max(1, (os.cpu_count() or 2) - 1)
