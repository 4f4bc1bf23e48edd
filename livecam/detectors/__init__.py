"""Face detectors. Only this package imports torch.

A detector is any callable ``(frame_bgr: uint8 HxWx3) -> Faces`` (see ``Detector``).
``load_detector`` builds the right one from a model path (or the bundled CenterFace).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

import numpy as np

from livecam.faces import Faces


@runtime_checkable
class Detector(Protocol):
    """Finds faces in a BGR ``uint8 (H, W, 3)`` frame; boxes are in that frame's pixels.

    The whole contract the engine and the live path use; nothing else is probed.
    """

    threshold: float
    """Score a box needs; may be changed between calls (the live path does, from the tray)."""
    detect_size: int | None
    """Input width of the fast pass; ``None`` = the frame's own. Set by the live path's timing."""
    @property
    def input_size(self) -> int | None:
        """The one input size a model takes (fixed-size exports), or ``None`` when ``detect_size`` is free."""
        ...

    @property
    def on_gpu(self) -> bool:
        ...

    def __call__(self, frame_bgr: np.ndarray) -> Faces:
        """The fast pass."""
        ...

    def detect_full(self, frame_bgr: np.ndarray) -> Faces:
        """The thorough pass (small and large faces): files every ``small_faces_s``, photos always."""
        ...

    def detect_with_tile(self, frame_bgr: np.ndarray, k: int) -> Faces:
        """Live: the fast pass plus the ``k``-th small-face tile, round robin."""
        ...


class CallableDetector:
    """A ``Detector`` made of one function (the fast pass serves as every pass); for tests and tools."""

    input_size: int | None = None
    on_gpu = False

    def __init__(self, fn: Callable[[np.ndarray], Faces], threshold: float = 0.0):
        self._fn = fn
        self.threshold = threshold
        self.detect_size: int | None = None

    def __call__(self, frame_bgr: np.ndarray) -> Faces:
        return self._fn(frame_bgr)

    def detect_full(self, frame_bgr: np.ndarray) -> Faces:
        return self._fn(frame_bgr)

    def detect_with_tile(self, frame_bgr: np.ndarray, k: int) -> Faces:
        return self._fn(frame_bgr)


def as_detector(obj: Detector | Callable[[np.ndarray], Faces]) -> Detector:
    """``obj`` if it is a whole ``Detector``, else a plain function wrapped as one."""
    return obj if isinstance(obj, Detector) else CallableDetector(obj)


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
    return max(1, (os.cpu_count() or 2) - 1)
