"""Face detectors. Only this package imports torch.

A detector is any callable ``(frame_bgr: uint8 HxWx3) -> Faces`` (see ``Detector``).
``load_detector`` builds the right one from a model path (or the bundled CenterFace).
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol, runtime_checkable

import numpy as np

from livecam.faces import Faces


@runtime_checkable
class Detector(Protocol):
    """Finds faces in a BGR ``uint8 (H, W, 3)`` frame; boxes are in that frame's pixels."""

    def __call__(self, frame_bgr: np.ndarray) -> Faces: ...


def load_detector(model: str | Path | None = None, *, device: str = "auto", detect_size: int | None = None,
                  threshold: float = 0.2) -> Detector:
    """Build a detector. ``model=None`` is the bundled CenterFace; an ``.onnx`` path is a YOLO face model."""
    from livecam.detectors.torchrun import resolve_device

    dev = resolve_device(device)
    if model is None or str(model) == "centerface":
        from livecam.detectors.centerface import CenterFaceDetector

        return CenterFaceDetector(device=dev, detect_size=detect_size, threshold=threshold)
    from livecam.detectors.yolo import YoloFaceDetector

    return YoloFaceDetector(Path(model), device=dev, detect_size=detect_size, threshold=threshold)


def set_cpu_threads(n: int) -> None:
    """Threads PyTorch may use on the CPU (the live path keeps a core for capture and output)."""
    import torch

    torch.set_num_threads(max(1, int(n)))


def live_cpu_threads() -> int:
    import os

    return max(1, (os.cpu_count() or 2) - 1)
