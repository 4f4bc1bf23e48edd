"""Which backend runs CenterFace here: ``--device`` asks, the accuracy gate and one timing decide, the cache keeps it.

``auto`` on a CPU: the int8 model (``ortint8``) when its faces match PyTorch's (``check``) and it is at least
``FASTER`` times as fast as PyTorch's own CPU choice, timed once per machine; the pick is cached (one answer for
every process, so a file comes out the same whichever process ran it, as for the precision choice). ``cpu``:
PyTorch; ``onnxruntime``: the int8 model wherever it passes the gate (else PyTorch, saying why); CUDA: PyTorch
in fp16. The log and ``livecam devices`` say which runs and why.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from livecam.detectors.backends import Backend, decode
from livecam.detectors.backends.torchnet import TorchBackend
from livecam.detectors.torchrun import _cpu_name, cache_dir, measured_once, plan_input
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
"""``auto`` takes the int8 model only when it is at least this many times as fast as PyTorch here."""


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
    and photos, where every frame is detected anyway, run the reference."""
    if device.type != "cpu" or request == "cpu" or (request == "auto" and not live):
        reference = TorchBackend(net, device)
        why = "--device cpu" if request == "cpu" else "the GPU" if device.type != "cpu" else \
            "files and photos run the reference model; --device onnxruntime runs the faster int8 one"
        log.info("detector: %s (%s)", reference.name, why)
        return reference
    fp32 = copy.deepcopy(net).float()  # before the reference runs ``net`` in bf16 (in place): exact weights
    reference = TorchBackend(net, device)
    try:
        from livecam.detectors.backends.ortint8 import OrtInt8Backend, model_path

        path = model_path(fp32, weights_sha)
        pick = _cached_pick(fp32, reference, path, weights_sha)
    except ModelError as e:
        if request == RUNTIME:
            raise
        log.info("detector: %s (the int8 detector is not available: %s)", reference.name, e)
        return reference
    if pick["backend"] == RUNTIME or (request == RUNTIME and pick["passed"]):
        log.info("detector: %s (%s)", OrtInt8Backend.name, pick["why"])
        return OrtInt8Backend(path)
    if request == RUNTIME:
        log.warning("--device onnxruntime: the int8 detector failed the accuracy check here (%s); running %s",
                    pick["why"], reference.name)
    else:
        log.info("detector: %s (%s)", reference.name, pick["why"])
    return reference


def _cached_pick(net: torch.nn.Module, reference: TorchBackend, path: Path, weights_sha: str) -> dict[str, Any]:
    """The gate's verdict and the timing, measured once per machine, model and versions (one process at a time:
    a batch's workers start together; the first measures, the others read its answer)."""
    key = "|".join([_cpu_name(), torch.__version__, path.name, weights_sha, reference.name])
    return measured_once(f"backend-{hashlib.sha256(key.encode()).hexdigest()[:16]}", ("backend", "passed", "why"),
                         lambda: measure(net, reference, path))


def measure(net: torch.nn.Module, reference: TorchBackend, path: Path) -> dict[str, Any]:
    """Gate the int8 model against PyTorch fp32 on demo-clip frames it was not calibrated on (every 8th from the
    3rd; calibration takes every 4th from the 1st), then time it against PyTorch's own CPU choice."""
    from livecam.detectors.backends.ortint8 import OrtInt8Backend, demo_frames, varied

    frames = varied(demo_frames()[2::8])
    int8 = OrtInt8Backend(path)
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


def describe(request: str = "auto") -> str:
    """For ``livecam devices``: what ``--device request`` runs here, as far as it is known without loading."""
    if request == "cpu":
        return "PyTorch on the CPU (--device cpu)"
    picks = sorted(cache_dir().glob("backend-*.json"), key=lambda p: p.stat().st_mtime)
    for p in reversed(picks):
        try:
            pick = json.loads(p.read_text())
            name = "ONNX Runtime int8 (CPU)" if pick["backend"] == RUNTIME else "PyTorch (CPU)"
            return f"{name}: {pick['why']}"
        except (OSError, ValueError, KeyError, TypeError):
            continue
    return "not measured yet on this machine (measured once, when the detector first loads: ~10 s)"
