import numpy as np
import pytest

from livecam.faces import Faces


@pytest.mark.parametrize("xyxy, score, track_id, error", [
    (np.zeros((2, 4)), np.zeros(2), None, None),
    (np.zeros((0, 4)), np.zeros(0), None, None),
    (np.zeros((2, 3)), np.zeros(2), None, "xyxy must have shape"),
    (np.zeros((2, 4)), np.zeros(3), None, "score must have shape"),
    (np.zeros((2, 4)), np.zeros(2), np.zeros(1), "track_id must have shape"),
    (np.array([[0, 0, np.nan, 1]]), np.zeros(1), None, "NaN"),
])
def test_validation(xyxy, score, track_id, error):
    ids = {} if track_id is None else {"track_id": track_id}
    if error:
        with pytest.raises(ValueError, match=error):
            Faces(xyxy, score, **ids)
    else:
        f = Faces(xyxy, score, **ids)
        assert f.xyxy.dtype == np.float32 and f.track_id.dtype == np.int64
        assert (f.track_id == -1).all()


def test_empty_and_immutable():
    f = Faces.empty()
    assert len(f) == 0 and f.xyxy.shape == (0, 4)
    g = Faces(np.array([[0, 0, 10, 20]]), np.array([0.5]), np.array([7]))
    with pytest.raises(ValueError):
        g.xyxy[0, 0] = 3


def test_indexing_and_geometry():
    f = Faces(np.array([[0, 0, 10, 20], [50, 50, 60, 60]]), np.array([0.9, 0.4]), np.array([1, 2]))
    assert f[f.score > 0.5].track_id.tolist() == [1]
    assert f[1].xyxy.tolist() == [[50, 50, 60, 60]]
    assert f.expanded(0.5).xyxy[0].tolist() == [-5, -10, 15, 30]
    clipped = Faces(np.array([[-5, -5, 5, 5], [100, 100, 120, 120]]), np.array([1, 1])).clipped(50, 50)
    assert clipped.xyxy.tolist() == [[0, 0, 5, 5]]
    assert Faces.concat([f, Faces.empty(), f]).track_id.tolist() == [1, 2, 1, 2]
