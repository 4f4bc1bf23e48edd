"""CenterFace on ONNX Runtime (the CPU): the shipped weights exported to ONNX, as they are (fp32: files and photos,
``fp32_path``) and quantized to int8 on this machine (the live path, ``model_path``).

The fp32 export runs the same arithmetic as PyTorch fp32 (its maps differ by ~1e-5) in 0.4-0.7x the time here:
ONNX Runtime's CPU convolutions against PyTorch's eager ones. It is built in ~2 s and cached.

The int8 model is built once and cached beside the converted weights (``cache_dir()``): the PyTorch module is exported to ONNX
(opset 17, any input size) and quantized statically with ONNX Runtime (QDQ, weights per channel; calibrated on
frames of the bundled demo clip, CC BY 4.0: as they are, each person zoomed in, and tiled 2x2 to 8x8, so that
large and small faces are in the calibration: ~5 s here). Weights use 7 bits (``reduce_range``): on CPUs without VNNI (AVX2), 8-bit
weights saturate ONNX Runtime's u8s8 multiply and the detector lost faces (92.7% of PyTorch's faces found at
the same threshold with 7 bits, 84.8% with 8, WIDER dev photos at 1024 px). The first two convolutions stay
fp32 (``FLOAT_CONVS``); keeping the heads (the last 4 convolutions) or the whole upsampling path (12) in fp32
changed nothing measurable. A cached model that does not load is built again, never
trusted. Measured on a 2-core AVX2 machine, one thread, the network alone: 416x256
13.6 ms against PyTorch fp32's 25.6, 640x384 30.6 against 56.8 (OpenVINO int8, which needs a fixed input size:
12.8 and 36.5 ms, recompiled at each width the load governor picks).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
from filelock import FileLock

from livecam.detectors.torchrun import Letterbox, cache_dir, letterboxed, plan_input
from livecam.errors import ModelError

log = logging.getLogger(__name__)

CALIBRATION_WIDTH = 640
CALIBRATION_EVERY = 4  # every 4th frame of the demo clip (28 of 110), and mosaics of them
MOSAICS = (2, 3, 4, 6, 8)
OPSET = 17
FLOAT_CONVS = 2
"""The first two convolutions (the stem and the first depthwise one, at half the input's resolution) stay fp32:
quantizing them cost 1.4 points of easy faces on WIDER dev (93.6% against PyTorch's 95.0%); in fp32 95.3%.
Measured on those photos at 1024 px, the share of PyTorch fp32's faces the int8 model finds at the same
threshold: all quantized 93.2%, first conv fp32 92.6%, first two 95.4%, three 95.3%, four 96.1% (slower),
every depthwise conv fp32 89.3%; percentile or entropy calibration instead of min-max 93.9% / 92.1%."""
RECIPE = "qdq-perchannel-u8s8-reducerange-float2-demo4-zooms-mosaics23468-w640-opset17"
"""Changes whenever the way the model is built changes: a model built another way is built again."""
INSTALL_HINT = "install it with: pip install onnxruntime (the README's set-up command does)"


def _ort() -> Any:
    try:
        import onnxruntime
    except ImportError:
        raise ModelError(f"the ONNX Runtime detectors need ONNX Runtime, which is not installed: {INSTALL_HINT}") from None
    return onnxruntime


def demo_frames() -> list[np.ndarray]:
    """Every BGR frame of the bundled demo clip (two people at a webcam's distance): the int8 model is calibrated
    on some of them and checked on others."""
    from livecam.inputs.camera import demo_clip

    cap = cv2.VideoCapture(str(demo_clip()))
    frames = []
    while (got := cap.read())[0]:
        frames.append(got[1])
    cap.release()
    if not frames:
        raise ModelError(f"cannot read the demo clip {demo_clip()}: reinstall livecam")
    return frames


def calibration_frames() -> list[np.ndarray]:
    """What the int8 model's activation ranges are measured on: every ``CALIBRATION_EVERY``-th demo frame,
    ``varied``."""
    return varied(demo_frames()[::CALIBRATION_EVERY])


def varied(frames: list[np.ndarray]) -> list[np.ndarray]:
    """``frames`` (480x270: faces of ~70 px at 640 px), each person alone zoomed in (faces of 200-300 px), and
    mosaics of them (a crowd of faces down to ~10 px): the face sizes a detector meets."""
    h, w = frames[0].shape[:2]
    zooms = [f[h // 6:, x:x + w // 2] for f in frames[::2] for x in (0, w // 2)]
    mosaics = [np.vstack([np.hstack([frames[(r * k + c) % len(frames)] for c in range(k)]) for r in range(k)])
               for k in MOSAICS]
    return frames + zooms + mosaics


def network_input(frame_bgr: np.ndarray, box: Letterbox) -> np.ndarray:
    """``(1, 3, H, W) float32`` RGB 0..255, the frame letterboxed into ``box``."""
    return np.ascontiguousarray(letterboxed(frame_bgr, box).transpose(2, 0, 1)[None], dtype=np.float32)


def model_path(net: torch.nn.Module, weights_sha: str) -> Path:
    """The int8 model for these weights, built now if the cache has none that loads."""
    return _cached("int8", f"{weights_sha}|{RECIPE}", lambda path: _build(net, path))


def fp32_path(net: torch.nn.Module, weights_sha: str) -> Path:
    """The fp32 export of these weights, built now if the cache has none that loads."""

    def build(path: Path) -> None:
        with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
            export_onnx(net, Path(tmp) / "fp32.onnx")
            os.replace(Path(tmp) / "fp32.onnx", path)

    return _cached("fp32", f"{weights_sha}|opset{OPSET}", build)


def _cached(kind: str, recipe: str, build: Callable[[Path], None]) -> Path:
    """``centerface-KIND-<key>.onnx`` in the cache folder, ``build`` (to that path, atomically) unless one that
    loads is there; the key changes with ``recipe`` and the versions of ONNX Runtime and PyTorch."""
    ort = _ort()
    key = hashlib.sha256(f"{recipe}|{ort.__version__}|{torch.__version__}".encode()).hexdigest()[:16]
    path = cache_dir() / f"centerface-{kind}-{key}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(path.with_suffix(".lock")), timeout=300):  # a batch's workers: one builds, the others wait
        if path.is_file():
            try:
                _session(path, 1)
                return path
            except Exception as e:  # a corrupt cache is rebuilt, never trusted
                log.warning("ignoring unreadable %s model %s (%s); building it again", kind, path, e)
        build(path)
    return path


def _build(net: torch.nn.Module, path: Path) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Frames(CalibrationDataReader):
        def __init__(self) -> None:
            h_w = [(f, plan_input(f.shape[1], f.shape[0], CALIBRATION_WIDTH)) for f in calibration_frames()]
            self._inputs = iter([{"input": network_input(f, box)} for f, box in h_w])

        def get_next(self) -> dict[str, np.ndarray] | None:
            return next(self._inputs, None)

    log.info("building the int8 detector for this machine (once, ~5 s)")
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        fp32 = Path(tmp) / "centerface.onnx"
        export_onnx(net, fp32)
        out = Path(tmp) / "int8.onnx"
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process the model, on the root logger
        try:
            quantize_static(str(fp32), str(out), Frames(), quant_format=QuantFormat.QDQ, per_channel=True,
                            reduce_range=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                            nodes_to_exclude=_convs(fp32)[:FLOAT_CONVS])
        finally:
            logging.getLogger().setLevel(quiet)
        os.replace(out, path)


def _convs(model: Path) -> list[str]:
    """The model's convolutions' node names, input to output."""
    import onnx

    return [n.name for n in onnx.load(str(model)).graph.node if n.op_type == "Conv"]


def export_onnx(net: torch.nn.Module, path: Path) -> None:
    """The fp32 module as ONNX, any input height and width (multiples of 32)."""
    import copy

    module = copy.deepcopy(net).float().eval()
    x = torch.rand(1, 3, 256, 416) * 255
    import warnings

    with torch.inference_mode(False), torch.no_grad(), warnings.catch_warnings():
        # the TorchScript exporter: the newer one needs onnxscript, one more package for a ~2 s step done once
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(module, (x,), str(path), input_names=["input"],
                          output_names=["heatmap", "scale", "offset", "landmarks"],
                          dynamic_axes={"input": {2: "height", 3: "width"}}, opset_version=OPSET, dynamo=False)


def _session(path: Path, threads: int) -> Any:
    ort = _ort()
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    # threads that spin while they wait for work: on a machine shared with other work (an encoder, a game) the
    # spin takes CPU time others need, and with 2 threads it measured slower than 1 (#39's measurement)
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


INT8 = "ONNX Runtime int8 (CPU)"
FP32 = "ONNX Runtime fp32 (CPU)"


class OrtBackend:
    """A CenterFace ONNX model (``model_path``: int8, ``fp32_path``: fp32) on ONNX Runtime's CPU provider, on as
    many threads as PyTorch is given here (``set_cpu_threads``: the live path keeps a core for capture and
    output). ``name``: what the log and tables call it (``INT8`` or ``FP32``)."""

    on_gpu = False

    def __init__(self, path: Path, name: str, threads: int | None = None):
        self.path = path
        self.name = name
        self._session = _session(path, threads or torch.get_num_threads())

    def __call__(self, frame_bgr: np.ndarray, box: Letterbox) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        hm, scale, offset, _ = self._session.run(None, {"input": network_input(frame_bgr, box)})
        return torch.from_numpy(hm), torch.from_numpy(scale), torch.from_numpy(offset)
