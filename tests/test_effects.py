"""Effects change each face beyond recognition and leave every other pixel untouched."""

import cv2
import numpy as np
import pytest

from livecam import effects
from livecam.effects import Effect, EffectParams, Shape
from livecam.faces import Faces
from livecam.media import read_image
from tests.conftest import DATA, load_boxes, needs_data

PHOTO = "images/2008_001322.jpg"  # dlib-faces-dev: three faces, 63..90 px


@pytest.fixture(scope="module")
def photo():
    img = read_image(DATA / "dlib-faces-dev" / PHOTO)
    return img, Faces(load_boxes("dlib-faces-dev")[PHOTO], np.ones(3))


def retained_detail(orig, out):
    """Share of the original's fine facial detail still present in ``out`` (1 = all, 0 = none).

    Both crops go to a 48x48 face-normalised grey thumbnail; detail is what a Gaussian of
    sigma 1.5 (1/32 of the face) removes: eyes, brows, nostrils, mouth corners. The share is the
    projection of the output's detail on the original's: block edges of a pixelation, which do
    not line up with the face, count for nothing.
    """
    def detail(x):
        g = cv2.resize(cv2.cvtColor(x, cv2.COLOR_BGR2GRAY), (48, 48), interpolation=cv2.INTER_AREA).astype(np.float64)
        d = g - cv2.GaussianBlur(g, (0, 0), 1.5)
        return (d - d.mean()).ravel()

    a, b = detail(orig), detail(out)
    return float(a @ b / (a @ a))


@needs_data
@pytest.mark.parametrize("effect", list(Effect))
@pytest.mark.parametrize("shape", list(Shape))
def test_faces_obscured_and_outside_untouched(photo, effect, shape):
    img, faces = photo
    params = EffectParams(effect=effect, shape=shape, color=(255, 0, 255))
    before = img.copy()
    out = effects.apply(img, faces, params)
    assert np.array_equal(img, before), "apply must not change its input"
    # outside every mask plus its soft edge: bit-identical
    grown = Faces(effects.mask_boxes(faces, params), faces.score).expanded(params.feather + 0.01)
    outside = effects.coverage_mask(img.shape, grown, EffectParams(margin=0, shape=Shape.BOX)) == 0
    assert np.array_equal(out[outside], img[outside])
    for x1, y1, x2, y2 in faces.xyxy.astype(int):
        a, b = img[y1:y2, x1:x2], out[y1:y2, x1:x2]
        if effect is not Effect.SOLID:
            assert retained_detail(a, b) < 0.15, "facial detail survived the effect"
        if effect is Effect.SOLID:
            assert (b == (255, 0, 255)).all(axis=2).mean() > 0.99


@needs_data
@pytest.mark.parametrize("size", [16, 40, 120, 400])
@pytest.mark.parametrize("effect", [Effect.BLUR, Effect.PIXELATE])
def test_unrecognisable_at_every_face_size(photo, size, effect):
    img, faces = photo
    x1, y1, x2, y2 = faces.xyxy[2].astype(int)
    crop = img[y1 - 20:y2 + 20, x1 - 20:x2 + 20]
    s = size / (x2 - x1)
    crop = cv2.resize(crop, None, fx=s, fy=s, interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_CUBIC)
    pad = round(20 * s)
    face = Faces(np.array([[pad, pad, crop.shape[1] - pad, crop.shape[0] - pad]]), np.ones(1))
    out = effects.apply(crop, face, EffectParams(effect=effect))
    kept = retained_detail(crop[pad:-pad, pad:-pad], out[pad:-pad, pad:-pad])
    assert kept < 0.15, f"{effect.value} at {size}px kept {kept:.0%} of the facial detail"


@needs_data
def test_eyes_region_covers_upper_face_only(photo):
    img, faces = photo
    p = EffectParams(effect=Effect.SOLID, region=effects.Region.EYES, color=(255, 0, 255), margin=0)
    out = effects.apply(img, faces, p)
    x1, y1, x2, y2 = faces.xyxy[0].astype(int)
    h = y2 - y1
    upper = (out[y1 + h // 5:y1 + h // 2, x1 + 10:x2 - 10] == (255, 0, 255)).all(axis=2).mean()
    lower = (out[y1 + int(h * 0.75):y2, x1:x2] == (255, 0, 255)).all(axis=2).mean()
    assert upper > 0.95 and lower == 0


@needs_data
def test_obscure_all_removes_everything(photo):
    img, _ = photo
    out = effects.obscure_all(img, "detector failed")
    assert out.shape == img.shape and out.dtype == np.uint8
    assert retained_detail(img, out) < 0.05
    assert not np.shares_memory(out, img)


@pytest.mark.parametrize("kw, error", [
    ({"strength": 0.2}, "strength"),
    ({"margin": -1}, "margin"),
    ({"color": (0, 0, 300)}, "color"),
])
def test_params_validated(kw, error):
    with pytest.raises(ValueError, match=error):
        EffectParams(**kw)


def test_bad_frame_rejected():
    with pytest.raises(ValueError, match="uint8"):
        effects.apply(np.zeros((10, 10, 3), np.float32), Faces.empty(), EffectParams())


@needs_data
@pytest.mark.parametrize("shape", list(Shape))
def test_a_face_inside_a_larger_faces_mask_is_still_obscured(photo, shape):
    """A small face box inside a large one's mask (a face behind a face, a nested false box) is not painted
    twice; the large face's coarser replacement covers it, and nothing outside the masks changes."""
    img, faces = photo
    x1, y1, x2, y2 = faces.xyxy[2]
    cx, cy, q = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 6
    inner = np.array([[cx - q, cy - q, cx + q, cy + q]], np.float32)
    both = Faces(np.vstack([faces.xyxy, inner]), np.ones(4))
    params = EffectParams(shape=shape)
    sizes = np.sqrt(both.width * both.height) * (1 + 2 * params.margin)
    assert effects._inside_another(effects.mask_boxes(both, params), sizes, params).tolist() == [False] * 3 + [True]
    out = effects.apply(img, both, params)
    a, b = (im[int(inner[0, 1]):int(inner[0, 3]), int(inner[0, 0]):int(inner[0, 2])] for im in (img, out))
    assert retained_detail(a, b) < 0.15
    assert np.array_equal(out, effects.apply(img, faces, params)), "the inner face changed nothing but work"
