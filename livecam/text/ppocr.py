"""PaddleOCR's PP-OCRv4 text detector and recogniser (Apache-2.0), as ONNX files inside the
``rapidocr-onnxruntime`` wheel, run on ONNX Runtime's CPU provider. Pre- and post-processing are ours
(axis-aligned boxes are all a cover needs), the numbers the models were trained with are PaddleOCR's.
"""

from __future__ import annotations

import logging
import math
import sys
import importlib.util
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from livecam.errors import ModelError
from livecam.text import Texts

log = logging.getLogger(__name__)

DEFAULT_WIDTH = 960
"""The detector's input live, longest side: plates 15-30 px tall found 57% at 960 against 26% at 640 (#39's
measurement on openalpr's plates tiled into 720p frames), at about 2.6x the cost."""
FILES_WIDTH = 1280
"""Files (no frame rate to keep): plates 15-30 px tall in 2x2 photos in a 720p frame found 75% against 61% at
960, under 15 px 50% against 8%, at 1.6x the cost (318 against 195 ms, one core); a frame is never enlarged."""
PROB_THRESHOLD = 0.3   # PaddleOCR's DB defaults: a pixel is text above this probability
BOX_THRESHOLD = 0.5    # a region is text when its mean probability is above this
UNCLIP = 1.6           # a region's box pushed out by area * UNCLIP / perimeter (DB shrinks text when it trains)
# its wheel says Python < 3.13; livecam reads only its model files, so on a newer Python it installs without its own
# dependencies
INSTALL = "pip install " + ("" if sys.version_info < (3, 13) else "--no-deps --ignore-requires-python ") + \
    "rapidocr-onnxruntime"


def model_path(name: str) -> Path:
    """A PP-OCR model file from the ``rapidocr-onnxruntime`` wheel; ``ModelError`` naming the install command."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")  # found, not imported: we run the models ourselves
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"--cover plates/text needs PaddleOCR's text models from rapidocr-onnxruntime, which is "
                         f"not installed: {INSTALL}")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / name
    if not path.is_file():
        raise ModelError(f"PP-OCR model {name} is missing from rapidocr-onnxruntime ({path}): reinstall it with "
                         f"{INSTALL} --force-reinstall")
    return path


def session(path: Path, threads: int) -> Any:
    """An ONNX Runtime CPU session on ``threads`` threads that do not spin while they wait (spinning took CPU
    time the face detector and the encoder needed, and measured no faster: #39)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own Fail/InvalidGraph types
        raise ModelError(f"cannot load PP-OCR model {path}: {e}; reinstall it with {INSTALL} --force-reinstall") \
            from None


def _input(frame_bgr: np.ndarray, width: int) -> tuple[np.ndarray, float, float]:
    """The network input (``(1, 3, h, w) float32``, sides multiples of 32, longest side ``width`` or less) and the
    factors from its pixels back to the frame's."""
    h, w = frame_bgr.shape[:2]
    s = min(1.0, width / max(h, w))
    nh, nw = max(32, round(h * s / 32) * 32), max(32, round(w * s / 32) * 32)
    img = cv2.resize(frame_bgr, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
    x = (img.astype(np.float32) * (2 / 255) - 1).transpose(2, 0, 1)[None]
    return np.ascontiguousarray(x), w / nw, h / nh


def regions(prob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DB post-processing on a ``(h, w) float32`` text probability map: ``(N, 4) float32`` boxes (map pixels,
    pushed out by ``UNCLIP``) and ``(N,)`` mean probabilities, regions below ``BOX_THRESHOLD`` dropped."""
    binary = cv2.dilate((prob > PROB_THRESHOLD).astype(np.uint8), np.ones((2, 2), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(binary, connectivity=8)
    boxes, scores = [], []
    for i in range(1, n):
        x, y, w, h, area = stats[i]
        if min(w, h) < 3:
            continue
        score = float(prob[y:y + h, x:x + w][labels[y:y + h, x:x + w] == i].mean())
        if score < BOX_THRESHOLD:
            continue
        d = area * UNCLIP / max(1, 2 * (w + h))
        boxes.append((x - d, y - d, x + w + d, y + h + d))
        scores.append(score)
    return np.array(boxes, np.float32).reshape(-1, 4), np.array(scores, np.float32)


class TextDetector:
    """Every text region in a BGR ``uint8 (H, W, 3)`` frame (``TextFinder``; ``plate`` all False), the frame
    fitted into ``width`` pixels, longest side."""

    def __init__(self, width: int = DEFAULT_WIDTH, threads: int = 1):
        if not 64 <= width <= 4096:
            raise ValueError(f"text detector width must be between 64 and 4096, got {width}")
        self.width = width
        self._session = session(model_path("ch_PP-OCRv4_det_infer.onnx"), threads)
        self._input = self._session.get_inputs()[0].name

    def __call__(self, frame_bgr: np.ndarray) -> Texts:
        if frame_bgr.dtype != np.uint8 or frame_bgr.ndim != 3 or frame_bgr.shape[2] != 3:
            raise ValueError(f"frame must be uint8 (H, W, 3), got {frame_bgr.dtype} {frame_bgr.shape}")
        x, sx, sy = _input(frame_bgr, self.width)
        prob = self._session.run(None, {self._input: x})[0][0, 0]
        boxes, scores = regions(prob)
        h, w = frame_bgr.shape[:2]
        boxes = boxes * np.array([sx, sy, sx, sy], np.float32)
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        return Texts(boxes, scores, np.zeros(len(scores), bool))


class Recogniser:
    """What a text line says: PP-OCRv4's recogniser (CTC over PaddleOCR's 6623-character dictionary, read from
    the model's metadata), greedy decoding."""

    HEIGHT = 48

    def __init__(self, threads: int = 1):
        self._session = session(model_path("ch_PP-OCRv4_rec_infer.onnx"), threads)
        self._input = self._session.get_inputs()[0].name
        meta = self._session.get_modelmeta().custom_metadata_map
        if "character" not in meta:
            raise ModelError(f"PP-OCR recogniser has no character list; reinstall it with {INSTALL} --force-reinstall")
        self.chars = ["", *meta["character"].splitlines(), " "]  # 0 = CTC blank

    def __call__(self, frame_bgr: np.ndarray, box: np.ndarray) -> tuple[str, float]:
        """The text in ``box`` (``[x1, y1, x2, y2]`` frame pixels) and its mean character confidence (0 for
        nothing read)."""
        x1, y1, x2, y2 = (int(round(v)) for v in box)
        crop = frame_bgr[max(0, y1):y2, max(0, x1):x2]
        if crop.size == 0:
            return "", 0.0
        h, w = crop.shape[:2]
        nw = min(max(8, math.ceil(self.HEIGHT * w / h)), 16 * self.HEIGHT)
        img = cv2.resize(crop, (nw, self.HEIGHT), interpolation=cv2.INTER_LINEAR)
        x = (img.astype(np.float32) * (2 / 255) - 1).transpose(2, 0, 1)[None]
        probs = self._session.run(None, {self._input: np.ascontiguousarray(x)})[0][0]
        best, conf = probs.argmax(1), probs.max(1)
        keep = (best != 0) & np.r_[True, best[1:] != best[:-1]]
        if not keep.any():
            return "", 0.0
        return "".join(self.chars[i] for i in best[keep] if i < len(self.chars)), float(conf[keep].mean())
