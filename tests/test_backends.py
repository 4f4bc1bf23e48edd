"""The inference backend seam (#37): the int8 model and the fp32 export on ONNX Runtime against the PyTorch
reference, the accuracy gates, the cache, and which backend each path runs."""

from __future__ import annotations

import logging

import pytest
import torch

from livecam.detectors import load_detector as _load
from livecam.detectors.backends import choice, ortnet
from livecam.detectors.backends.torchnet import TorchBackend
from livecam.detectors.centerface import CenterFaceDetector, load_centerface
from livecam.detectors.torchrun import plan_input
from livecam.policy import DetectionPolicy
from livecam.tracker import iou_matrix
from tests.conftest import DATA, load_boxes, needs_data
from tests.test_readme import _demo_frames


def load_detector(**kw) -> CenterFaceDetector:
    det = _load(**kw)
    assert isinstance(det, CenterFaceDetector)
    return det


@pytest.fixture(scope="module")
def demo():
    return _demo_frames()[::10]


def test_the_int8_detector_finds_the_faces_pytorch_finds_in_the_demo_clip(demo):
    """Both people of the demo clip, in every frame looked at, where PyTorch fp32 puts them (IoU >= 0.6), on the
    fast pass and the thorough one; and the backend says what it is."""
    int8 = load_detector(device="onnxruntime")
    ref = load_detector(device="cpu")
    assert int8.backend.name == "ONNX Runtime int8 (CPU)" and ref.backend.name.startswith("PyTorch")
    policy = DetectionPolicy(0.2, small_faces_s=0.5)
    for frame in demo:
        for run in (lambda d: policy.photo(d, frame), lambda d: policy.video(d, frame, thorough=False)):
            want, got = run(ref), run(int8)
            assert len(want) == 2 and len(got) >= 2
            assert (iou_matrix(want.xyxy, got.xyxy).max(1) >= 0.6).all(), (want.xyxy, got.xyxy)


def test_the_gate_refuses_a_backend_that_loses_faces(demo):
    """A backend whose scores are a third lower (a badly quantized model) fails the gate; the int8 model passes."""
    net = load_centerface()
    reference = TorchBackend(net, torch.device("cpu"), "fp32")

    class Dimmed:
        name, on_gpu = "dimmed", False

        def __call__(self, frame, box):
            hm, scale, offset = reference(frame, box)
            return hm * 0.33, scale, offset

    frames = ortnet.varied(demo[:4])
    bad = choice.check(Dimmed(), reference, frames)
    assert not bad.passed and bad.recall < choice.GATE_RECALL, bad
    int8 = ortnet.OrtBackend(ortnet.model_path(net, "test"), ortnet.INT8)
    good = choice.check(int8, reference, frames)
    assert good.passed and good.faces > 50, good


@pytest.mark.parametrize("kind", ["int8", "fp32"])
def test_a_corrupt_onnx_model_in_the_cache_is_built_again(demo, kind):
    net = load_centerface()
    make = ortnet.model_path if kind == "int8" else ortnet.fp32_path
    path = make(net, "corrupt-test")
    path.write_bytes(b"not an onnx model")
    again = make(net, "corrupt-test")
    assert again == path and path.stat().st_size > 1_000_000
    box = plan_input(demo[0].shape[1], demo[0].shape[0], 640)
    hm, _, _ = ortnet.OrtBackend(path, kind)(demo[0], box)
    assert float(hm.max()) > 0.5  # a face is there


def test_the_fp32_export_has_pytorchs_numbers_and_the_int8_model_does_not(demo):
    """The files' gate: the fp32 export's maps are PyTorch fp32's to 1e-4 (the same faces at any threshold); the
    int8 model's are not (its scores move by a few hundredths), so files never run it under ``auto``."""
    net = load_centerface()
    reference = TorchBackend(net, torch.device("cpu"), "fp32")
    frames = ortnet.varied(demo[:3])
    fp32 = ortnet.OrtBackend(ortnet.fp32_path(net, "same-maps-test"), ortnet.FP32)
    assert choice.same_maps(fp32, reference, frames) <= 1e-4
    int8 = ortnet.OrtBackend(ortnet.model_path(net, "test"), ortnet.INT8)
    assert choice.same_maps(int8, reference, frames) > choice.SAME_MAPS


def test_each_path_says_what_it_runs_and_why(caplog):
    """``auto``: files and photos run the fp32 export on ONNX Runtime where it has PyTorch's numbers and was
    faster here, else PyTorch; the live path the int8 model where it passed the gate and was faster here, else
    PyTorch; each says which and why in one line, and ``livecam devices`` repeats both."""
    from livecam.devices import detector_backend

    with caplog.at_level(logging.INFO, logger="livecam"):
        files = load_detector(device="auto")
        live = load_detector(device="auto", live=True)
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith("detector: ")]
    assert len(said) == 2, said
    assert said[0].startswith(f"detector: {files.backend.name} (files and photos: "), said[0]
    assert said[1].startswith(f"detector: {live.backend.name} (")
    assert files.backend.name in (ortnet.FP32, "PyTorch fp32 (CPU)", "PyTorch bf16 (CPU)"), files.backend.name
    if files.backend.name == ortnet.FP32:
        assert "x PyTorch" in said[0] and "the same maps" in said[0]
    else:
        assert "differ" in said[0] or "not faster" in said[0], said[0]
    if live.backend.name.startswith("ONNX"):
        assert "faces" in said[1] and "x PyTorch" in said[1]
    else:
        assert "failed the accuracy check" in said[1] or "not faster" in said[1], said[1]
    if torch.cuda.is_available():
        return  # ``livecam devices`` names the GPU
    text = detector_backend().splitlines()
    assert len(text) == 2 and text[0].startswith("live: ") and text[1].startswith("files and photos: "), text
    assert "not measured yet" not in "".join(text)  # both picks cached


@needs_data
def test_the_int8_detector_covers_the_group_photos(detector):
    """The dlib group photos (18 faces, every one covered by PyTorch): every one covered by the int8 model too."""
    from livecam import effects
    from livecam.harness.evaluate import is_covered
    from livecam.media import read_image

    int8 = load_detector(device="onnxruntime")
    policy = DetectionPolicy(0.2, small_faces_s=0.5)
    params = effects.EffectParams()
    missed = []
    for name, boxes in load_boxes("dlib-faces-dev").items():
        img = read_image(DATA / "dlib-faces-dev" / name)
        mask = effects.coverage_mask(img.shape, policy.photo(int8, img), params) > 0
        missed += [(name, b) for b in boxes if not is_covered(mask, b)]
    assert missed == []


def test_unknown_device_is_one_line_naming_the_choices():
    from livecam.errors import LivecamError

    with pytest.raises(LivecamError, match="auto, cpu, cuda or onnxruntime"):
        load_detector(device="tpu")


@needs_data
def test_the_int8_model_keeps_pytorchs_faces_at_the_same_threshold():
    """WIDER dev photos with many faces (the first 40 in name order, 1024 px): the int8 model finds >= 94% of
    PyTorch fp32's faces at the same threshold (0.2; 95.3% here), boxes matched at IoU >= 0.5. With every convolution
    quantized it found 91.4% (the first two in fp32, ``FLOAT_CONVS``: 95.4% of all 3553)."""
    from livecam.detectors.backends import decode
    from livecam.media import read_image

    net = load_centerface()
    reference = TorchBackend(net, torch.device("cpu"), "fp32")
    int8 = ortnet.OrtBackend(ortnet.model_path(net, "same-threshold-test"), ortnet.INT8)
    found = total = 0
    with torch.inference_mode():
        for name in sorted(load_boxes("wider-val-dev"))[:40]:
            img = read_image(DATA / "wider-val-dev" / name)
            box = plan_input(img.shape[1], img.shape[0], 1024)
            want, got = decode(*reference(img, box), box, 0.2), decode(*int8(img, box), box, 0.2)
            total += len(want)
            if len(want) and len(got):
                found += int((iou_matrix(want.xyxy, got.xyxy).max(1) >= 0.5).sum())
    assert total > 500 and found / total >= 0.94, (found, total)


def test_the_shrink_before_detection_matches_the_area_filter():
    """The detector's downscale (``shrunk``: whole-block average, then linear) against OpenCV's area filter:
    identical at integer factors, under 1.5 levels apart on average at fractional ones."""
    import cv2
    import numpy as np

    from livecam.detectors.torchrun import shrunk

    frame = np.vstack([np.hstack(_demo_frames()[i * 4:i * 4 + 4]) for i in range(4)])  # 1920x1080, 32 faces
    for w in (320, 416, 512, 640, 960, 1279):
        h = round(1080 * w / 1920)
        want = cv2.resize(frame, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
        got = shrunk(frame, w, h)
        assert got.shape == (h, w, 3)
        diff = np.abs(got.astype(np.float32) - want).mean()
        assert diff == 0 if 1920 % w == 0 else diff < 1.5, (w, diff)


def test_bench_detector_times_every_backend_side_by_side():
    """``livecam bench --detector``: one row per backend this machine runs (the reference first, at 1.00x), a
    time at each width and thread count; a folder without labels is one line naming the fix."""
    from livecam.errors import LivecamError
    from livecam.harness import detbench
    from livecam.settings import Settings

    text = detbench.run_cli(Settings(), None, runs=1)
    rows = [line for line in text.splitlines() if line.startswith("| ") and "backend" not in line]
    names = [r.split(" | ")[0][2:] for r in rows]
    assert names[0] == "PyTorch fp32 (CPU)" and "ONNX Runtime int8 (CPU)" in names and "ONNX Runtime fp32 (CPU)" in names
    for row in rows:
        cells = row.strip("| ").split(" | ")[1:]
        assert len(cells) == len(detbench.WIDTHS) * len(detbench.THREADS)
        assert all(float(c.split(" (")[0]) > 0 for c in cells)
    assert rows[0].count("(1.00x)") == len(detbench.WIDTHS) * len(detbench.THREADS)
    with pytest.raises(LivecamError, match="no boxes.json"):
        detbench.run_cli(Settings(), ortnet.cache_dir())
