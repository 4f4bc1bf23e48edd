"""Which backend runs CenterFace here: ``--device`` asks, the accuracy gate and one timing decide, the cache keeps it.

``auto`` on a CPU, the live path: the int8 model (``ortnet.model_path``) when its faces match PyTorch's (``check``)
and it is at least ``FASTER`` times as fast as PyTorch's own CPU choice. Files and photos: the fp32 export on ONNX
Runtime (``ortnet.fp32_path``) when its maps are PyTorch fp32's to within ``SAME_MAPS`` (``same_maps``: the same
faces, whatever the threshold) and it is ``FASTER``. Each pick is timed once per machine and cached (one answer
for every process, so a file comes out the same whichever process ran it, as for the precision choice).
``cpu``: PyTorch; ``onnxruntime``: the int8 model wherever it passes the gate (else PyTorch, saying why); CUDA:
PyTorch in fp16. The log and ``livecam devices`` say which runs and why.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from livecam.detectors.backends import Backend, decode
from livecam.detectors.backends.torchnet import TorchBackend
from livecam.detectors.torchrun import AUTO_DETECT_WIDTH, _cpu_name, cache_dir, measured_once, plan_input
from livecam.errors import ModelError
from livecam.tracker import iou_matrix

log = logging.getLogger(__name__)

RUNTIME = "onnxruntime"
"""The ``--device`` value for the int8 model on ONNX Runtime."""
GATE_RECALL = 0.97
"""Of PyTorch fp32's faces above the default threshold (0.2) in the gate's frames, the share the candidate must
find at half of it (0.1: the score a tracked face is followed down to). Measured on the WIDER dev photos at 1024
px (3553 faces): the int8 model finds 99.0% of them (92.7% at the same 0.2: scores move by a few hundredths)."""
GATE_EXTRA = 0.15
"""... and at most this share more boxes above the threshold than PyTorch (false alarms mask background)."""
GATE_WIDTHS = (640, 1024)
FASTER = 1.15
"""``auto`` takes an ONNX Runtime model only when it is at least this many times as fast as PyTorch here."""
SAME_MAPS = 1e-3
"""The fp32 export may differ from PyTorch fp32's maps by at most this (scores 0..1, log-scales, offsets in
cells); measured on the gate frames: 2e-6 / 9e-5 / 4e-5 (the same arithmetic in another order)."""


@dataclass(frozen=True)
class Verdict:
    recall: float   # share of the reference's faces the candidate found
    extra: float    # candidate boxes / reference boxes - 1
    faces: int      # reference faces checked

    @property
    def passed(self) -> bool:
        return self.recall >= GATE_RECALL and self.extra <= GATE_EXTRA

    def __str__(self) -> str:
        return f"finds {self.recall:.1%} of PyTorch's {self.faces} faces, {self.extra:+.0%} boxes"


def check(candidate: Backend, reference: Backend, frames: list[np.ndarray]) -> Verdict:
    """The accuracy gate: ``candidate``'s faces against ``reference``'s on ``frames`` at ``GATE_WIDTHS``."""
    found = total = boxes = 0
    with torch.inference_mode():
        for frame in frames:
            for width in GATE_WIDTHS:
                box = plan_input(frame.shape[1], frame.shape[0], width)
                ref = decode(*reference(frame, box), box, 0.2)
                got = decode(*candidate(frame, box), box, 0.1)
                boxes += int((got.score > 0.2).sum())
                total += len(ref)
                if len(ref) and len(got):
                    found += int((iou_matrix(ref.xyxy, got.xyxy).max(1) >= 0.5).sum())
    return Verdict(found / total if total else 0.0, boxes / total - 1 if total else 1.0, total)


def time_ms(backend: Backend, frame: np.ndarray, width: int = 640, runs: int = 5) -> float:
    """The least disturbed of ``runs`` detections' network time (other processes only ever add time)."""
    box = plan_input(frame.shape[1], frame.shape[0], width)
    with torch.inference_mode():
        backend(frame, box)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            backend(frame, box)
            times.append(time.perf_counter() - t)
    return min(times) * 1000


def choose(net: torch.nn.Module, device: torch.device, request: str, weights_sha: str, live: bool = False) -> Backend:
    """The backend for ``--device request`` (resolved to ``device``), logged with why. ``auto`` takes the int8
    model only for the live path (``live``), where detections a second are what keeps faces covered; files
    and photos run the reference's own numbers (PyTorch fp32, or its export on ONNX Runtime)."""
    if device.type != "cpu" or request == "cpu":
        reference = TorchBackend(net, device)
        log.info("detector: %s (%s)", reference.name, "--device cpu" if request == "cpu" else "the GPU")
        return reference
    if request == "auto" and not live:
        return _files_backend(net, device, weights_sha)
    fp32 = copy.deepcopy(net).float()  # before the reference runs ``net`` in bf16 (in place): exact weights
    reference = TorchBackend(net, device)
    try:
        from livecam.detectors.backends.ortnet import INT8, OrtBackend, model_path

        path = model_path(fp32, weights_sha)
        pick = _cached_pick("live", fp32, reference, path, weights_sha, measure)
    except ModelError as e:
        if request == RUNTIME:
            raise
        log.info("detector: %s (the int8 detector is not available: %s)", reference.name, e)
        return reference
    if pick["backend"] == RUNTIME or (request == RUNTIME and pick["passed"]):
        log.info("detector: %s (%s)", INT8, pick["why"])
        return OrtBackend(path, INT8)
    if request == RUNTIME:
        log.warning("--device onnxruntime: the int8 detector failed the accuracy check here (%s); running %s",
                    pick["why"], reference.name)
    else:
        log.info("detector: %s (%s)", reference.name, pick["why"])
    return reference


def _files_backend(net: torch.nn.Module, device: torch.device, weights_sha: str) -> Backend:
    """Files and photos under ``auto``: the fp32 export on ONNX Runtime where it is PyTorch fp32's numbers and
    faster, else PyTorch."""
    fp32 = copy.deepcopy(net).float()
    reference = TorchBackend(net, device)
    try:
        from livecam.detectors.backends.ortnet import FP32, OrtBackend, fp32_path

        path = fp32_path(fp32, weights_sha)
        pick = _cached_pick("files", fp32, reference, path, weights_sha, measure_files)
    except ModelError as e:
        log.info("detector: %s (files and photos; ONNX Runtime is not available: %s)", reference.name, e)
        return reference
    if pick["backend"] == RUNTIME:
        log.info("detector: %s (files and photos: %s)", FP32, pick["why"])
        return OrtBackend(path, FP32)
    log.info("detector: %s (files and photos: %s)", reference.name, pick["why"])
    return reference


Measure = Callable[[torch.nn.Module, TorchBackend, Path], dict[str, Any]]


def _cached_pick(kind: str, net: torch.nn.Module, reference: TorchBackend, path: Path, weights_sha: str,
                 how: Measure) -> dict[str, Any]:
    """``how``'s verdict and timing (``kind``: "live" or "files"), measured once per machine, model and versions
    (one process at a time: a batch's workers start together; the first measures, the others read its answer)."""
    key = "|".join([_cpu_name(), torch.__version__, path.name, weights_sha, reference.name])
    prefix = "backend" if kind == "live" else f"backend-{kind}"
    return measured_once(f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:16]}", ("backend", "passed", "why"),
                         lambda: how(net, reference, path))


def _gate_frames() -> list[np.ndarray]:
    """Demo-clip frames the int8 model was not calibrated on (every 8th from the 3rd; calibration takes every 4th
    from the 1st), ``varied``."""
    from livecam.detectors.backends.ortnet import demo_frames, varied

    return varied(demo_frames()[2::8])


def measure(net: torch.nn.Module, reference: TorchBackend, path: Path) -> dict[str, Any]:
    """Gate the int8 model against PyTorch fp32 on ``_gate_frames``, then time it against PyTorch's own CPU
    choice."""
    from livecam.detectors.backends.ortnet import INT8, OrtBackend

    frames = _gate_frames()
    int8 = OrtBackend(path, INT8)
    verdict = check(int8, TorchBackend(net, torch.device("cpu"), "fp32"), frames)  # ``net``: fp32, a copy
    probe = frames[-3]  # a 4x4 mosaic: 1920x1080, timed at 640 px
    torch_ms, int8_ms = time_ms(reference, probe), time_ms(int8, probe)
    fast = torch_ms / int8_ms >= FASTER
    if not verdict.passed:
        why = f"the int8 detector failed the accuracy check: it {verdict}"
    elif fast:
        why = f"{torch_ms / int8_ms:.1f}x {reference.name} here ({int8_ms:.0f} ms against {torch_ms:.0f}), and it {verdict}"
    else:
        why = f"the int8 detector is not faster here ({int8_ms:.0f} ms against {torch_ms:.0f})"
    return {"backend": RUNTIME if verdict.passed and fast else "torch", "passed": verdict.passed, "why": why,
            "recall": verdict.recall, "extra": verdict.extra, "torch_ms": torch_ms, "int8_ms": int8_ms}


def same_maps(candidate: Backend, reference: Backend, frames: list[np.ndarray]) -> float:
    """The largest difference between ``candidate``'s and ``reference``'s maps (heatmap, log-scale, offset) on
    ``frames`` at ``GATE_WIDTHS``."""
    worst = 0.0
    with torch.inference_mode():
        for frame in frames:
            for width in GATE_WIDTHS:
                box = plan_input(frame.shape[1], frame.shape[0], width)
                for a, b in zip(candidate(frame, box), reference(frame, box)):
                    worst = max(worst, float((a.float().cpu() - b.float().cpu()).abs().max()))
    return worst


def measure_files(net: torch.nn.Module, reference: TorchBackend, path: Path) -> dict[str, Any]:
    """Gate the fp32 export against PyTorch fp32 (``same_maps``), then time both at the files' width (1024 px)."""
    from livecam.detectors.backends.ortnet import FP32, OrtBackend

    frames = _gate_frames()
    candidate = OrtBackend(path, FP32)
    diff = same_maps(candidate, TorchBackend(net, torch.device("cpu"), "fp32"), frames)
    probe = frames[-3]
    torch_ms, ort_ms = time_ms(reference, probe, AUTO_DETECT_WIDTH), time_ms(candidate, probe, AUTO_DETECT_WIDTH)
    passed, fast = diff <= SAME_MAPS, torch_ms / ort_ms >= FASTER
    if not passed:
        why = f"ONNX Runtime's fp32 maps differ from PyTorch's by up to {diff:.2g} here"
    elif fast:
        why = (f"{torch_ms / ort_ms:.1f}x {reference.name} here ({ort_ms:.0f} ms against {torch_ms:.0f} at "
               f"{AUTO_DETECT_WIDTH} px), the same maps to {diff:.0e}")
    else:
        why = f"ONNX Runtime fp32 is not faster here ({ort_ms:.0f} ms against {torch_ms:.0f})"
    return {"backend": RUNTIME if passed and fast else "torch", "passed": passed, "why": why, "diff": diff,
            "torch_ms": torch_ms, "ort_ms": ort_ms}


def describe(request: str = "auto") -> str:
    """For ``livecam devices``: what ``--device request`` runs here (live, then files and photos), as far as it is
    known without loading, one line each."""
    if request == "cpu":
        return "PyTorch on the CPU (--device cpu)"
    names = {"live": "ONNX Runtime int8 (CPU)", "files and photos": "ONNX Runtime fp32 (CPU)"}
    lines = []
    for kind, pattern in (("live", "backend-[0-9a-f]*.json"), ("files and photos", "backend-files-*.json")):
        lines.append(f"{kind}: {_last_pick(pattern, names[kind])}")
    return "\n".join(lines)


def _last_pick(pattern: str, runtime_name: str) -> str:
    picks = sorted(cache_dir().glob(pattern), key=lambda p: p.stat().st_mtime)
    for p in reversed(picks):
        try:
            pick = json.loads(p.read_text())
            name = runtime_name if pick["backend"] == RUNTIME else "PyTorch (CPU)"
            return f"{name}: {pick['why']}"
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return "not measured yet on this machine (measured once, when the detector first loads: ~10 s)"
