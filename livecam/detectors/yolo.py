"""YOLO face detectors exported to ONNX, loaded into PyTorch with onnx2torch (``--model PATH``).

Two output layouts are understood:

* YOLOv5-Face: ``[1, N, 16]`` = cx, cy, w, h, objectness, 5 landmark pairs, class score;
* YOLOv8 / YOLO11 face: ``[1, 5, N]`` (cx, cy, w, h, score) or ``[1, 20, N]`` (+ 5 keypoints x, y, conf).

Input: RGB 0..1, letterboxed (aspect kept, padded bottom/right) to a square of ``size``
pixels: ``--detect-size`` if given, else the model's static input size, else a size in the
file name (``..._320x320.onnx``), else 640. Runs on the same CUDA fp16 / CPU paths as CenterFace.
Licences: YOLOv5-Face weights are GPL-3.0, Ultralytics-trained weights AGPL-3.0 (see models/).
"""

from __future__ import annotations

import logging
import re
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livecam.detectors.torchrun import Letterbox, TensorFeeder, nms, prepare_module
from livecam.errors import ModelError
from livecam.faces import Faces

log = logging.getLogger(__name__)


# onnx2torch's Slice indexes with a list, which torch deprecates; it works and is not the user's concern
warnings.filterwarnings("ignore", message="Using a non-tuple sequence for multidimensional indexing",
                        category=UserWarning)


def _input_size(model: Any, path: Path) -> int | None:  # an onnx.ModelProto
    dims = [d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim]
    if len(dims) == 4 and dims[2] > 0 and dims[3] > 0:
        return int(dims[3])
    m = re.search(r"(\d{3,4})x(\d{3,4})", path.name)
    return int(m.group(1)) if m else None


def load_yolo(path: Path) -> tuple[torch.nn.Module, int | None]:
    """The ONNX model as a ``torch.nn.Module`` (via onnx2torch) and its input size if fixed."""
    if not path.is_file():
        raise ModelError(f"model file not found: {path}")
    try:
        import onnx
        from onnx2torch import convert
    except ImportError:
        raise ModelError("YOLO models need the 'onnx' and 'onnx2torch' packages: run `pip install onnx onnx2torch`") from None
    try:
        model = onnx.load(str(path))
    except Exception as e:  # protobuf DecodeError and friends
        raise ModelError(f"{path}: not a readable ONNX model ({e})") from None
    try:
        net = convert(model)
    except Exception as e:  # unsupported operator, opset...
        raise ModelError(f"{path}: onnx2torch cannot convert this model ({e})") from None
    return net, _input_size(model, path)


def decode(out: torch.Tensor, box: Letterbox, threshold: float, nms_iou: float = 0.4) -> Faces:
    """YOLOv5-Face ``[1, N, 16]`` or YOLOv8 ``[1, 5|20, N]`` -> ``Faces`` in frame pixels."""
    if out.ndim != 3 or out.shape[0] != 1:
        raise ModelError(f"unsupported YOLO output shape {list(out.shape)}: expected [1, N, 16] or [1, 5|20, N]")
    o = out[0].float()
    if o.shape[1] == 16:                      # YOLOv5-Face
        score = o[:, 4] * o[:, 15]
        cxcywh = o[:, :4]
    elif o.shape[0] in (5, 20):               # YOLOv8 / YOLO11 face: channels first
        score = o[4]
        cxcywh = o[:4].T
    else:
        raise ModelError(f"unsupported YOLO output shape {list(out.shape)}: expected [1, N, 16] (YOLOv5-Face) "
                         "or [1, 5|20, N] (YOLOv8/YOLO11 face)")
    keep = score > threshold
    if not bool(keep.any()):
        return Faces.empty()
    cxcywh, score = cxcywh[keep], score[keep]
    xyxy = torch.cat([cxcywh[:, :2] - cxcywh[:, 2:] / 2, cxcywh[:, :2] + cxcywh[:, 2:] / 2], 1)
    k = nms(xyxy, score, nms_iou)
    return Faces(xyxy[k].cpu().numpy(), score[k].cpu().numpy()).scaled(1 / box.scale_x, 1 / box.scale_y)


class YoloFaceDetector:
    """``Detector`` for a YOLO face model in ONNX, run by PyTorch: every frame is letterboxed into its
    one square input (``input_size``), whatever width is asked for."""

    def __init__(self, path: Path, device: torch.device, input_size: int | None = None):
        net, fixed = load_yolo(Path(path))
        if fixed and input_size and input_size != fixed:
            raise ModelError(f"{path}: this model takes {fixed}x{fixed} input only; drop --detect-size or use {fixed}")
        self.input_size = int(np.ceil(int(input_size or fixed or 640) / 32) * 32)
        self.device = device
        self.on_gpu = device.type == "cuda"
        self.net, self.dtype = prepare_module(net, device, probe_hw=(self.input_size, self.input_size))
        self.feed = TensorFeeder(device, self.dtype, rgb=True)
        try:
            self.detect(np.zeros((self.input_size, self.input_size, 3), np.uint8), None, 0.5)
        except ModelError:
            raise
        except Exception as e:  # a model that cannot run at this size
            raise ModelError(f"{path}: the model does not run at {self.input_size}x{self.input_size} ({e}); "
                             "try --detect-size with its training size") from None

    @torch.inference_mode()
    def detect(self, frame_bgr: np.ndarray, width: int | None, threshold: float) -> Faces:
        h, w = frame_bgr.shape[:2]
        s = self.input_size / max(w, h)
        box = Letterbox(round(w * s) / w, round(h * s) / h, self.input_size, self.input_size)
        x = self.feed(frame_bgr, box) / 255.0
        out = self.net(x)
        if isinstance(out, (list, tuple)):
            out = out[0]
        return decode(out, box, threshold).clipped(w, h)
