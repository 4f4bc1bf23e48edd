"""How CenterFace's network runs: the seam under its ``Detector`` (#37).

A ``Backend`` takes a BGR ``uint8 (H, W, 3)`` frame and the ``Letterbox`` it is to be fitted into and returns
the network's three maps (heatmap, log-scale, offset) as torch tensors on the CPU or the GPU; the detector
decodes them the same way whatever ran the network. Two backends:

* ``torchnet.TorchBackend``: PyTorch, the reference: CUDA in fp16, the CPU in bf16 where it is faster, else fp32;
* ``ortnet.OrtBackend``: ONNX Runtime on the CPU, running the shipped weights exported to ONNX, either as they
  are (fp32: PyTorch fp32's numbers to ~1e-5, faster) or quantized to int8 on this machine (calibrated on the
  bundled demo clip), each cached like the converted weights.

``--device auto`` on a CPU picks once per machine and caches the pick (``choice``): the live path runs the int8
model where its faces match PyTorch's and it is faster; files and photos, where every face found counts, run
the fp32 export where its maps are PyTorch fp32's and it is faster (the int8 model covers 93.6% of the WIDER dev
easy faces against 95.0%). ``--device cpu`` is PyTorch on the CPU, ``--device onnxruntime`` the int8 model
wherever it passes the gate.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from livecam.detectors.torchrun import Letterbox, nms
from livecam.faces import Faces


class Backend(Protocol):
    name: str
    """What runs the network, for the log and ``livecam devices``: e.g. ``PyTorch fp32 (CPU)``."""
    on_gpu: bool

    def __call__(self, frame_bgr: np.ndarray, box: Letterbox) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heatmap ``(1, 1, h, w)`` in 0..1, log-scale ``(1, 2, h, w)`` and offset ``(1, 2, h, w)`` at stride 4
        of the letterboxed input (``box``)."""
        ...


def decode(heatmap: torch.Tensor, scale: torch.Tensor, offset: torch.Tensor, box: Letterbox,
           threshold: float, nms_iou: float = 0.3) -> Faces:
    """CenterFace outputs (batch 1) -> ``Faces`` in original-frame pixels (not yet clipped)."""
    hm = heatmap[0, 0].float()  # compared in float32: a bfloat16 comparison would round the threshold itself
    ys, xs = torch.nonzero(hm > threshold, as_tuple=True)
    if ys.numel() == 0:
        return Faces.empty()
    score = hm[ys, xs]
    h = torch.exp(scale[0, 0, ys, xs].float()) * 4
    w = torch.exp(scale[0, 1, ys, xs].float()) * 4
    cy = (ys.float() + offset[0, 0, ys, xs].float() + 0.5) * 4
    cx = (xs.float() + offset[0, 1, ys, xs].float() + 0.5) * 4
    xyxy = torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], 1)
    keep = nms(xyxy, score, nms_iou)
    return Faces(xyxy[keep].cpu().numpy(), score[keep].cpu().numpy()).scaled(1 / box.scale_x, 1 / box.scale_y)
