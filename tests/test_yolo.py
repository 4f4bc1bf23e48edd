"""YOLO face models in ONNX through onnx2torch: YOLOv5-Face layout (a real peer model) and the
YOLOv8/YOLO11 layout (built here from it), on real faces."""

from __future__ import annotations

import pytest

from livecam.detectors import load_detector, passes
from livecam.errors import ModelError
from livecam.media import read_image
from livecam.tracker import iou_matrix
from tests.conftest import DATA, SHARED, box_coverage, is_magenta, load_boxes, needs_data
from tests.helpers import faces_covered, livecam, wider_crowd

YOLO5 = SHARED / "models" / "peers" / "yolo5face_500m_320x320.onnx"
PHOTO = "images/2008_001322.jpg"


def _v8_layout_from(v5_path, out_path, keypoints=False):
    """Append nodes to the YOLOv5-Face graph so that it outputs the YOLOv8 layout [1, 5(+15), N]."""
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(str(v5_path))
    g = m.graph
    src = g.output[0].name

    def const(name, values):
        g.initializer.append(helper.make_tensor(name, TensorProto.INT64, [len(values)], values))

    for name, v in {"s0": [0], "s4": [4], "s5": [5], "s15": [15], "s16": [16], "ax": [2]}.items():
        const(name, v)
    g.node.extend([
        helper.make_node("Slice", [src, "s0", "s4", "ax"], ["xywh"]),
        helper.make_node("Slice", [src, "s4", "s5", "ax"], ["obj"]),
        helper.make_node("Slice", [src, "s15", "s16", "ax"], ["cls"]),
        helper.make_node("Mul", ["obj", "cls"], ["score"]),
    ])
    parts = ["xywh", "score"]
    if keypoints:
        const("s5b", [5])
        const("s15b", [15])
        g.node.append(helper.make_node("Slice", [src, "s5b", "s15b", "ax"], ["kp10"]))
        g.node.append(helper.make_node("Concat", ["kp10", "obj", "obj", "obj", "obj", "obj"], ["kp15"], axis=2))
        parts.append("kp15")
    g.node.append(helper.make_node("Concat", parts, ["cat"], axis=2))
    g.node.append(helper.make_node("Transpose", ["cat"], ["v8out"], perm=[0, 2, 1]))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("v8out", TensorProto.FLOAT, None))
    onnx.save(m, str(out_path))
    return out_path


@pytest.fixture(scope="module")
def photo():
    return read_image(DATA / "dlib-faces-dev" / PHOTO), load_boxes("dlib-faces-dev")[PHOTO]


@needs_data
@pytest.mark.parametrize("layout", ["v5", "v8", "v8-keypoints"])
def test_yolo_layouts_find_the_real_faces(tmp_path, photo, layout):
    img, truth = photo
    path = YOLO5 if layout == "v5" else _v8_layout_from(YOLO5, tmp_path / "v8face_320x320.onnx", keypoints=layout.endswith("points"))
    det = load_detector(path, device="cpu")
    faces = det.detect(img, None, 0.3)
    assert len(faces) == 3
    assert (iou_matrix(truth, faces.xyxy).max(axis=1) > 0.4).all()


@needs_data
def test_anonymize_with_a_yolo_model_covers_every_dlib_face(tmp_path):
    r = livecam("anonymize", DATA / "dlib-faces-dev" / "images", "-o", tmp_path, "--model", YOLO5,
                "--effect", "solid", "--color", "magenta")
    assert r.returncode == 0, r.stderr
    for name, boxes in load_boxes("dlib-faces-dev").items():
        covered = is_magenta(read_image(tmp_path / "images" / name.split("/")[-1]))
        for b in boxes:
            assert box_coverage(covered, b) >= 0.7, (name, b)


@needs_data
def test_unsupported_layout_and_bad_files(tmp_path):
    import onnx
    from onnx import TensorProto, helper

    g = helper.make_graph([helper.make_node("Identity", ["input"], ["out"])], "id",
                          [helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, 64, 64])],
                          [helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 3, 64, 64])])
    odd = tmp_path / "odd.onnx"
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), str(odd))
    with pytest.raises(ModelError, match="unsupported YOLO output shape"):
        load_detector(odd, device="cpu")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not onnx")
    with pytest.raises(ModelError, match="not a readable ONNX model"):
        load_detector(junk, device="cpu")
    r = livecam("anonymize", DATA / "dlib-faces-dev" / "images" / "2008_001009.jpg", "-o", tmp_path / "o.jpg",
                "--model", tmp_path / "missing.onnx")
    assert r.returncode == 3
    assert r.stderr.strip().splitlines()[-1] == f"livecam: error: model file not found: {tmp_path / 'missing.onnx'}"


@needs_data
def test_yolo_thorough_pass_tiles_the_frame_for_small_faces():
    """A 320x320 model squeezes a 1024 px crowd photo 3.2x: the 39 labelled faces (all under 16 px)
    vanish from the whole-frame pass; the thorough pass (320 px tiles at full resolution) covers them."""
    img, valid = wider_crowd()
    det = load_detector(YOLO5, device="cpu")
    assert len(valid) == 39
    assert faces_covered(img, passes.fast(det, img, None, 0.2), valid) <= 5
    assert faces_covered(img, passes.thorough(det, img, None, 0.2), valid) >= 33  # 38 measured


@needs_data
def test_yolo_live_tiles_sweep_the_frame_round_robin():
    """The live path's small-face sweep with a YOLO model: one 320 px tile per detection; over one
    sweep the union covers what the thorough pass covers."""
    img, valid = wider_crowd()
    det = load_detector(YOLO5, device="cpu")
    n = len(passes.tile_windows(img.shape[1], img.shape[0], 1.0, (320, 320)))
    sweep = [passes.with_tile(det, img, None, 0.2, k) for k in range(n)]
    assert n == 12
    assert faces_covered(img, sweep[0], valid) <= 10  # a single tile sees a corner of the crowd (1 measured)
    assert faces_covered(img, passes.merge(sweep), valid) >= 33  # 38 measured
