"""The PyTorch backend: the reference every other backend is checked against, and the CUDA path (fp16)."""

from __future__ import annotations

import numpy as np
import torch

from livecam.detectors.torchrun import Letterbox, TensorFeeder, prepare_module


class TorchBackend:
    """``net`` (a ``CenterFaceNet``) on ``device``: fp16 on CUDA, on the CPU bf16 where measured faster, else fp32
    (``precision``: ``auto``, or ``fp32``/``bf16``/``fp16``), ``channels_last``."""

    def __init__(self, net: torch.nn.Module, device: torch.device, precision: str = "auto"):
        self.device = device
        self.on_gpu = device.type == "cuda"
        self.net, self.dtype = prepare_module(net, device, precision)
        self.feed = TensorFeeder(device, self.dtype, rgb=True)
        kind = {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(self.dtype, "fp32")
        self.name = f"PyTorch {kind} ({'CUDA' if self.on_gpu else 'CPU'})"

    @torch.inference_mode()
    def __call__(self, frame_bgr: np.ndarray, box: Letterbox) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hm, scale, offset, _ = self.net(self.feed(frame_bgr, box))
        return hm, scale, offset
