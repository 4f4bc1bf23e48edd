"""``livecam bench --detector``: every way livecam can run CenterFace here, side by side in one run (#37).

Each backend (PyTorch fp32 on the CPU, the reference; PyTorch bf16 where the CPU has it; ONNX Runtime fp32, the
same exported graph unquantized; ONNX Runtime int8, the model ``--device onnxruntime`` runs; PyTorch fp16 on a
GPU when there is one) times ``Detector.detect`` end to end (letterbox, network, decode, threshold 0.2) on a
1920x1080 mosaic of the demo clip at 416, 640 and 1280 px width, on 1 and 2 threads. The backends take turns,
round after round, so a busy machine slows them alike; each cell is the median, and the ratio column divides
the reference's time by each. With ``--recall DATA`` (photos with ``boxes.json``, e.g. WIDER dev), each
backend's ``livecam eval`` coverage is beside it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from livecam.detectors.backends import Backend
from livecam.detectors.centerface import CenterFaceDetector
from livecam.settings import Settings

WIDTHS = (416, 640, 1280)
THREADS = (1, 2)
THRESHOLD = 0.2


@dataclass(frozen=True)
class Variant:
    name: str
    make: Callable[[int], Backend]  # threads -> a backend running on that many


def variants() -> list[Variant]:
    """What runs here: PyTorch fp32 first (the reference), then whichever others this machine has."""
    from livecam.detectors.backends.ortnet import FP32, INT8, OrtBackend, fp32_path, model_path
    from livecam.detectors.backends.torchnet import TorchBackend
    from livecam.detectors.bundled import default_model_path
    from livecam.detectors.centerface import _sha256, load_centerface

    net = load_centerface().eval()
    cpu = torch.device("cpu")

    def torch_on(device: torch.device, precision: str) -> Callable[[int], Backend]:
        return lambda threads: TorchBackend(net, device, precision)

    def ort(path: Path, name: str) -> Callable[[int], Backend]:
        return lambda threads: OrtBackend(path, name, threads)

    found = [Variant("PyTorch fp32 (CPU)", torch_on(cpu, "fp32"))]
    if torch.ops.mkldnn._is_mkldnn_bf16_supported():
        found.append(Variant("PyTorch bf16 (CPU)", torch_on(cpu, "bf16")))
    sha = _sha256(default_model_path())
    found.append(Variant(FP32, ort(fp32_path(net, sha), FP32)))
    found.append(Variant(INT8, ort(model_path(net, sha), INT8)))
    if torch.cuda.is_available():
        found.append(Variant("PyTorch fp16 (CUDA)", torch_on(torch.device("cuda"), "fp16")))
    return found


def probe_frame() -> np.ndarray:
    """A 1920x1080 mosaic (4x4) of demo-clip frames: 32 faces of ~20-70 px at these widths."""
    from livecam.detectors.backends.ortnet import demo_frames

    frames = demo_frames()[::7]
    mosaic = np.vstack([np.hstack(frames[r * 4:r * 4 + 4]) for r in range(4)])
    return np.ascontiguousarray(mosaic[:1080, :1920])


def time_table(found: list[Variant], runs: int) -> dict[tuple[str, int, int], float]:
    """Median ms of ``Detector.detect`` per (variant, threads, width); the variants interleaved."""
    frame = probe_frame()
    out: dict[tuple[str, int, int], float] = {}
    for threads in THREADS:
        torch.set_num_threads(threads)
        detectors = [(v.name, CenterFaceDetector.running(v.make(threads))) for v in found]
        for width in WIDTHS:
            times: dict[str, list[float]] = {name: [] for name, _ in detectors}
            for name, det in detectors:  # warm-up: first runs allocate
                det.detect(frame, width, THRESHOLD)
            for _ in range(runs):
                for name, det in detectors:
                    t = time.perf_counter()
                    det.detect(frame, width, THRESHOLD)
                    times[name].append(time.perf_counter() - t)
            for name, ts in times.items():
                out[name, threads, width] = statistics.median(ts) * 1000
    return out


def recall(found: list[Variant], settings: Settings, data: Path) -> dict[str, tuple[float, float, float, float]]:
    """``livecam eval DATA`` with each backend: (all, easy, medium, over-masked) in percent."""
    from livecam.engine import make_anonymizer
    from livecam.harness.evaluate import eval_photos

    out = {}
    for v in found:
        detector = CenterFaceDetector.running(v.make(2))
        res = eval_photos(data, settings, lambda s: make_anonymizer(s, detector))[0]
        share = {k: 100 * float(np.mean(h)) if h else 0.0 for k, h in res.hits.items()}
        out[v.name] = (share.get("all", 0.0), share.get("easy", 0.0), share.get("medium", 0.0), 100 * res.over)
    return out


def format_table(found: list[Variant], times: dict[tuple[str, int, int], float],
                 recalls: dict[str, tuple[float, float, float, float]], data: Path | None, runs: int) -> str:
    ref = found[0].name
    head = [f"{w} px, {t} thr" for t in THREADS for w in WIDTHS]
    lines = [f"Detector.detect on a 1920x1080 mosaic, median of {runs} interleaved runs, ms (x {ref}'s speed); "
             f"torch {torch.__version__}", "",
             "| backend | " + " | ".join(head) + (" | all | easy | medium | over-masked |" if recalls else " |"),
             "|---|" + "---:|" * (len(head) + (4 if recalls else 0))]
    for v in found:
        cells = [f"{times[v.name, t, w]:.1f} ({times[ref, t, w] / times[v.name, t, w]:.2f}x)"
                 for t in THREADS for w in WIDTHS]
        if recalls:
            cells += [f"{x:.1f}%" for x in recalls[v.name]]
        lines.append(f"| {v.name} | " + " | ".join(cells) + " |")
    if data is not None:
        lines += ["", f"coverage: `livecam eval {data}` with each backend (threshold {THRESHOLD})"]
    return "\n".join(lines)


def run_cli(settings: Settings, data: Path | None, runs: int = 9) -> str:
    from livecam.errors import LivecamError

    if data is not None and not (Path(data) / "boxes.json").is_file():
        raise LivecamError(f"--recall {data}: no boxes.json there; give a photo folder such as WIDER dev")
    threads = torch.get_num_threads()
    found = variants()
    try:
        times = time_table(found, runs)
    finally:
        torch.set_num_threads(threads)
    recalls = recall(found, replace(settings, threshold=THRESHOLD), Path(data)) if data is not None else {}
    return format_table(found, times, recalls, data, runs)
