"""Device choice and the frame -> tensor path shared by the PyTorch detectors.

CPU: ``channels_last`` (2-3x faster than NCHW for these depthwise nets on x86), and
bfloat16 where oneDNN runs it natively (AVX512-BF16 / AMX: measured 2.2-3.6x faster than fp32
at 960x544 on a 2-core EPYC, heatmap within 3e-3), chosen by timing both once per machine (the choice is
cached with the converted weights); else float32.
CUDA: the uint8 frame goes through a pinned host buffer with a non-blocking copy, and the
network runs in half precision, ``channels_last``.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.machinery
import importlib.util
import json
import logging
import math
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import cv2
import numpy as np
import torch
from filelock import FileLock, Timeout

from livecam.errors import LivecamError
from livecam.settings import DEVICES_EXPECTED, cache_dir, is_device

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU. ``cuda`` without a GPU is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise LivecamError("--device cuda: no CUDA GPU is available to PyTorch here; use --device cpu or auto")
    if not is_device(device):  # the settings' rule; load_detector is also called without Settings
        raise LivecamError(f"--device: unknown value {device!r}; expected {DEVICES_EXPECTED}")
    return torch.device("cpu" if device == "onnxruntime" else device)


@dataclass(frozen=True)
class Letterbox:
    """How a frame was mapped to the network input: resize by ``scale`` then pad right/bottom."""

    scale_x: float
    scale_y: float
    width: int   # network input width (multiple of ``stride``)
    height: int  # network input height


# Automatic detector width: this CPU runs CenterFace at ~37 ns/pixel up to ~1024x576 and
# ~48-63 ns/pixel above (the stride-4 feature maps stop fitting in cache): measured with `livecam bench --detector`.
AUTO_DETECT_WIDTH = 1024


def plan_input(frame_w: int, frame_h: int, detect_size: int | None, stride: int = 32) -> Letterbox:
    """Network input size for a ``frame_w x frame_h`` frame resized to ``detect_size`` wide.

    ``detect_size=None`` is automatic: the frame's own width, at most ``AUTO_DETECT_WIDTH``.
    """
    target_w = min(frame_w, AUTO_DETECT_WIDTH) if detect_size is None else int(detect_size)
    scale = target_w / frame_w
    rw, rh = max(1, round(frame_w * scale)), max(1, round(frame_h * scale))
    return Letterbox(rw / frame_w, rh / frame_h, math.ceil(rw / stride) * stride, math.ceil(rh / stride) * stride)


def shrunk(img: np.ndarray, rw: int, rh: int) -> np.ndarray:
    """``img`` made ``rw x rh`` (smaller): averaged over whole pixel blocks (OpenCV's area filter at an integer
    factor, its fast path), then linearly to the exact size (a step of less than 2x: no aliasing). The area filter
    at a fractional factor took 4-8 ms for 1280 or 1920 -> 416 px on one core, 2-4x this; the pixels differ
    from it by under 1 level on average."""
    h, w = img.shape[:2]
    k = min(w // rw, h // rh)
    if k >= 2:
        img = cv2.resize(img, (w // k, h // k), interpolation=cv2.INTER_AREA)
    return img if img.shape[:2] == (rh, rw) else cv2.resize(img, (rw, rh), interpolation=cv2.INTER_LINEAR)


def letterboxed(frame_bgr: np.ndarray, box: Letterbox, rgb: bool = True) -> np.ndarray:
    """The frame resized and padded (right, bottom) into ``box``: ``uint8 (box.height, box.width, 3)``, RGB when
    ``rgb`` (the networks' order), else BGR."""
    h, w = frame_bgr.shape[:2]
    rw, rh = round(w * box.scale_x), round(h * box.scale_y)
    img = frame_bgr if (rw, rh) == (w, h) else shrunk(frame_bgr, rw, rh) if rw < w else cv2.resize(
        frame_bgr, (rw, rh), interpolation=cv2.INTER_LINEAR)
    if (box.width, box.height) != (rw, rh):
        img = cv2.copyMakeBorder(img, 0, box.height - rh, 0, box.width - rw, cv2.BORDER_CONSTANT, value=0)
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB) if rgb else img


class TensorFeeder:
    """Turns BGR uint8 frames into the network's input tensor on ``device``.

    ``rgb=True`` flips to RGB. The result is ``(1, 3, H, W)`` of ``dtype`` in
    ``channels_last`` memory format, values 0..255 (the networks normalise themselves).
    """

    def __init__(self, device: torch.device, dtype: torch.dtype, rgb: bool = True):
        self.device = device
        self.dtype = dtype
        self.rgb = rgb
        self._pinned: torch.Tensor | None = None

    def __call__(self, frame_bgr: np.ndarray, box: Letterbox) -> torch.Tensor:
        host = torch.from_numpy(np.ascontiguousarray(letterboxed(frame_bgr, box, self.rgb)))
        if self.device.type == "cuda":
            if self._pinned is None or self._pinned.shape != host.shape:
                self._pinned = torch.empty(host.shape, dtype=torch.uint8, pin_memory=True)
            self._pinned.copy_(host)
            host = self._pinned.to(self.device, non_blocking=True)
        # HWC contiguous permuted to NCHW *is* channels_last; .to(dtype) keeps that layout.
        return host.permute(2, 0, 1).unsqueeze(0).to(self.dtype).contiguous(memory_format=torch.channels_last)


def nms(xyxy: torch.Tensor, score: torch.Tensor, iou: float) -> torch.Tensor:
    """Indices of the boxes kept by greedy non-maximum suppression, best first.

    Equal scores (frequent in bfloat16) are ranked by their order in the input, so the boxes kept
    above any threshold do not depend on which lower-scoring boxes were also there: a run at a
    low threshold, filtered by score, keeps exactly what a run at the higher threshold keeps.
    """
    order = torch.sort(score.float(), descending=True, stable=True).indices
    if not len(order):
        return order
    rank = torch.empty(len(order), dtype=torch.float32, device=score.device)
    rank[order] = torch.arange(len(order), 0, -1, dtype=torch.float32, device=score.device)
    return _nms_op()(xyxy.float(), rank, float(iou))


_NMS: Any = None


def _nms_op() -> Callable[[torch.Tensor, torch.Tensor, float], torch.Tensor]:
    """torchvision's compiled NMS, loaded without ``import torchvision``: that import also loads its
    models and datasets and costs ~1.3 s of every start-up (torch itself ~1.4 s) for this one op."""
    global _NMS
    if _NMS is None:
        try:
            spec = importlib.util.find_spec("torchvision")
            if spec is None:
                raise ModuleNotFoundError("torchvision is not installed")
            suffixes = tuple(importlib.machinery.EXTENSION_SUFFIXES)
            libs = [p for d in (spec.submodule_search_locations or []) for p in sorted(Path(d).glob("_C*"))
                    if p.name.endswith(suffixes)]
            torch.ops.load_library(str(libs[0]))
            _NMS = torch.ops.torchvision.nms
        except Exception as e:  # another layout or platform: the regular import finds it
            log.debug("loading torchvision's ops library directly failed (%s); importing torchvision", e)
            import torchvision

            _NMS = torchvision.ops.nms
    return _NMS


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _bf16_choice(module: torch.nn.Module, probe_hw: tuple[int, int]) -> bool:
    """``_bf16_is_faster``, measured once per CPU, torch version and network, then read from the cache
    (the probe costs ~0.3 s of start-up, a few percent of a short clip's run).

    One choice for every thread count and process, so that a file comes out the same whatever runs it:
    ``--jobs 1`` and each worker of ``--jobs 2`` (which use different thread counts), the live path, a
    re-run. With the thread count in the key, on a busy machine the 1-thread probe chose fp32 and the
    2-thread one bf16, and ``--jobs 2`` wrote other pixels than ``--jobs 1``. Processes starting together
    (a batch's workers) probe one at a time: the first measures, the others read its answer."""
    shapes = ",".join("x".join(map(str, p.shape)) for p in module.parameters())
    cpu = _cpu_name()
    key = "|".join([cpu, torch.__version__, type(module).__name__, shapes, str(probe_hw)])
    answer = measured_once(f"precision-{hashlib.sha256(key.encode()).hexdigest()[:16]}", ("bf16",), lambda: {
        "bf16": _bf16_is_faster(module, probe_hw), "cpu": cpu, "torch": torch.__version__})
    return bool(answer["bf16"])


PROBE_LOCK_S = 120.0


def measured_once(name: str, needs: tuple[str, ...], measure: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """``measure()``'s answer, kept as ``name.json`` in the cache folder and read from there next time (an answer
    without the keys ``needs`` is measured again). Processes asking together (a batch's workers) measure one at a
    time: the first measures, the others read its answer. A read-only cache or a stuck measurement elsewhere:
    measured here, uncached."""
    path = cache_dir() / f"{name}.json"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock: Any = FileLock(str(path.with_suffix(".lock")), timeout=PROBE_LOCK_S)
        lock.acquire()
    except (OSError, Timeout) as e:
        log.debug("%s measured without the cache lock (%s)", name, e)
        lock = None
    try:
        try:
            answer = json.loads(path.read_text())
            if isinstance(answer, dict) and set(needs) <= set(answer):
                return answer
        except (OSError, ValueError):
            pass
        answer = measure()
        try:
            path.write_text(json.dumps(answer))
        except OSError as e:
            log.debug("could not cache %s in %s (%s)", name, path, e)
        return answer
    finally:
        if lock is not None:
            lock.release()


def _bf16_is_faster(module: torch.nn.Module, probe_hw: tuple[int, int]) -> bool:
    """Time fp32 vs bf16 on a probe input; bf16 only where oneDNN supports it natively."""
    try:
        if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
            return False
    except (AttributeError, RuntimeError):
        return False
    x = torch.rand(1, 3, *probe_hw).mul_(255).contiguous(memory_format=torch.channels_last)
    times = {}
    # on a copy: the module itself must keep its exact fp32 weights (converted to bf16 and back they are
    # rounded, and the probing process then painted other boxes than every process after it)
    module = copy.deepcopy(module)
    try:
        with torch.inference_mode():
            for dtype in (torch.float32, torch.bfloat16):
                m = module.to(dtype)
                xi = x.to(dtype)
                m(xi)
                runs = []
                for _ in range(3):
                    t = time.perf_counter()
                    m(xi)
                    runs.append(time.perf_counter() - t)
                times[dtype] = min(runs)  # the least disturbed run: other processes only ever add time
    except Exception as e:  # a converted graph with ops that refuse bf16: stay in fp32
        log.debug("bf16 probe failed (%s); using fp32", e)
        return False
    finally:
        del module
    log.debug("precision probe: fp32 %.1f ms, bf16 %.1f ms", times[torch.float32] * 1e3, times[torch.bfloat16] * 1e3)
    return times[torch.bfloat16] < 0.8 * times[torch.float32]


def prepare_module(module: torch.nn.Module, device: torch.device, precision: str = "auto",
                   probe_hw: tuple[int, int] = (544, 960)) -> tuple[torch.nn.Module, torch.dtype]:
    """Module in eval mode, ``channels_last``, on ``device``, in the precision to run it at.

    ``precision``: ``auto`` (CUDA: fp16; CPU: bf16 when measured faster, else fp32), ``fp32``,
    ``bf16`` or ``fp16``. Returns ``(module, dtype)``.
    """
    module = module.eval().to(device=device)
    for p in module.parameters():
        if p.ndim == 4:  # conv weights (converted graphs also hold 1-D/5-D constants)
            p.data = p.data.contiguous(memory_format=torch.channels_last)
    for p in module.parameters():
        p.requires_grad_(False)
    if precision == "auto":
        if device.type == "cuda":
            dtype = torch.float16
        else:
            dtype = torch.bfloat16 if _bf16_choice(module, probe_hw) else torch.float32
    else:
        dtype = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]
    log.debug("detector runs on %s in %s", device, dtype)
    return module.to(dtype), dtype
