#!/usr/bin/env python3
"""CenterFace on this CPU: time per input size and precision (fp32, bf16, int8), and int8's accuracy.

    .venv/bin/python -m scripts.bench_detector [--threads 2] [--runs 15]
    .venv/bin/python -m scripts.bench_detector --eval int8 ../shared/data/wider-val-dev   # livecam eval, int8
    .venv/bin/python -m scripts.bench_detector --eval int8-heads-fp32 ../shared/data/wider-val-dev

The time table interleaves the precisions (fp32, bf16, int8, again) at each size and reports the
median of ``--runs`` runs each, in ms and ns per input pixel, so a busy machine shifts all columns
alike. int8 is PyTorch's own static quantization (``torch.ao`` FX graph mode, x86 backend,
per-channel weights, histogram-calibrated activations) calibrated on the demo clip's frames (the
one set of faces every install has); ``int8-heads-fp32`` keeps the first convolution and the four
output heads in float. ``--eval`` runs ``livecam eval`` with the detector swapped for that variant.
Measured numbers and the decision: ``models/README.md``.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import sys
import time
import warnings

import torch

from livecam import media
from livecam.detectors import centerface as cf
from livecam.detectors.torchrun import TensorFeeder, plan_input
from livecam.inputs import demo_clip

SIZES = ((320, 192), (448, 256), (640, 352), (960, 544), (1024, 576))
FP_HEADS = ("hm", "scale", "offset", "landmarks", "features.0.0")


def quantize(net: torch.nn.Module, heads_fp32: bool = False) -> torch.nn.Module:
    """``net`` (fp32) as int8, calibrated on the demo clip at two input widths."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    torch.backends.quantized.engine = "x86"
    feed = TensorFeeder(torch.device("cpu"), torch.float32, rgb=True)
    frames = [f for f, _ in media.iter_video(demo_clip())][::6]
    xs = [feed(f, plan_input(f.shape[1], f.shape[0], w)) for f in frames for w in (320, 640)]
    qm = get_default_qconfig_mapping("x86")
    if heads_fp32:
        for name in FP_HEADS:
            qm = qm.set_module_name(name, None)
        qm = qm.set_object_type(torch.sigmoid, None)
    with warnings.catch_warnings():  # torch.ao.quantization is deprecated in favour of torchao (not installed)
        warnings.simplefilter("ignore")
        prepared = prepare_fx(copy.deepcopy(net).eval(), qm, example_inputs=(xs[0],))
        with torch.inference_mode():
            for x in xs:
                prepared(x)
        return convert_fx(prepared)


def _median_ms(fn, x: torch.Tensor, runs: int) -> float:
    with torch.inference_mode():
        for _ in range(3):
            fn(x)
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            fn(x)
            times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def time_table(runs: int) -> None:
    net = cf.load_centerface().eval().to(memory_format=torch.channels_last)
    variants = {"fp32": (net, torch.float32), "bf16": (copy.deepcopy(net).to(torch.bfloat16), torch.bfloat16),
                "int8": (quantize(net), torch.float32), "int8-heads-fp32": (quantize(net, True), torch.float32)}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, median of {runs} runs\n")
    print("| input | " + " | ".join(f"{k} ms (ns/px)" for k in variants) + " |")
    print("|---|" + "---:|" * len(variants))
    for w, h in SIZES:
        x = (torch.rand(1, 3, h, w) * 255).contiguous(memory_format=torch.channels_last)
        cells = []
        for m, dtype in variants.values():
            ms = _median_ms(m, x.to(dtype), runs)
            cells.append(f"{ms:.1f} ({ms * 1e6 / (w * h):.0f})")
        print(f"| {w}x{h} | " + " | ".join(cells) + " |", flush=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--eval", choices=("int8", "int8-heads-fp32"), help="run `livecam eval` with this variant")
    args, rest = ap.parse_known_args()
    torch.set_num_threads(args.threads)
    if not args.eval:
        time_table(args.runs)
        return 0
    heads = args.eval == "int8-heads-fp32"
    cf.prepare_module = lambda module, device, precision="auto", probe_hw=(544, 960): (
        quantize(module, heads), torch.float32)
    from livecam.cli import main as livecam

    return livecam(["eval", *rest])


if __name__ == "__main__":
    sys.exit(main())
