"""How CenterFace's network runs: the seam under its ``Detector`` (#37).

A ``Backend`` takes a BGR ``uint8 (H, W, 3)`` frame and the ``Letterbox`` it is to be fitted into and returns
the network's three maps (heatmap, log-scale, offset) as torch tensors on the CPU or the GPU; the detector
decodes them the same way whatever ran the network. Two backends:

* ``torchnet.TorchBackend``: PyTorch, the reference: CUDA in fp16, the CPU in bf16 where it is faster, else fp32;
* ``ortint8.OrtInt8Backend``: ONNX Runtime on the CPU, running a copy of the shipped weights quantized to int8
  on this machine (calibrated on the bundled demo clip, cached like the converted weights); used only where
  its faces match PyTorch's (``choice.check``) and it is faster (``choice``).

``--device auto`` picks between them for the live path once per machine and caches the pick (``choice``); files
and photos run PyTorch (on the WIDER dev photos the int8 model covers 93.6% of the easy faces against 95.0%);
``--device cpu`` is PyTorch on the CPU, ``--device onnxruntime`` the int8 model wherever it passes the gate.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
import torch

from livecam.detectors.torchrun import Letterbox


class Backend(Protocol):
    name: str
    """What runs the network, for the log and ``livecam devices``: e.g. ``PyTorch fp32 (CPU)``."""
    on_gpu: bool

    def __call__(self, frame_bgr: np.ndarray, box: Letterbox) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Heatmap ``(1, 1, h, w)`` in 0..1, log-scale ``(1, 2, h, w)`` and offset ``(1, 2, h, w)`` at stride 4
        of the letterboxed input (``box``)."""
        ...
