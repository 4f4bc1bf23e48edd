"""Presenter mode: keep the main face visible, cover everyone else.

The main face is the tracked face with the best score (size x closeness to the centre). A
face must be the best candidate for ``dwell_s`` before it becomes the main face, and a
challenger must beat the main face by ``switch_ratio`` for ``dwell_s`` to take over: no
hand-over to a bystander for a frame. When the main face's track ends, a track born where it
was (the tracker lost the face and found it again: a new id, the same place) is the main face at
once; otherwise nobody is uncovered until a face qualifies again. Faces without a track id are
always covered. A second, partial box on the main face (a detection of half of it, e.g. on a
tile's edge, that started a track of its own) is part of the main face, not a bystander: a box
mostly inside the main face's and at least a third its height (no other face fits there without
being hidden by the main one). A box that holds the main face is not part of it: that may be a
bystander's face in front of the presenter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from livecam.faces import Faces
from livecam.tracker import intersection_matrix, iou_matrix


@dataclass(frozen=True)
class PresenterParams:
    dwell_frames: int = 20       # ~0.7 s at 30 fps
    switch_ratio: float = 1.6
    min_height: float = 0.08     # of the frame height; smaller faces are never the presenter
    part_inside: float = 0.6     # a box this much inside the main face's ...
    part_height: float = 0.33    # ... and at least this tall relative to it is part of the main face
    reborn_iou: float = 0.3      # a new track this close to where the main face's track ended is the main face


class PresenterChooser:
    """Stateful choice of the main face; owned by the pipeline thread (or a file-mode loop)."""

    def __init__(self, params: PresenterParams | None = None):
        self.params = params or PresenterParams()
        self.reset()

    def reset(self) -> None:
        self.main_id: int | None = None
        self._candidate: int | None = None
        self._streak = 0
        self._main_box: np.ndarray | None = None  # where the main face was last seen

    def scores(self, faces: Faces, width: int, height: int) -> np.ndarray:
        if len(faces) == 0:
            return np.zeros(0)
        cx = (faces.xyxy[:, 0] + faces.xyxy[:, 2]) / 2 / width - 0.5
        cy = (faces.xyxy[:, 1] + faces.xyxy[:, 3]) / 2 / height - 0.5
        size = faces.height / height
        centrality = 1.0 - np.clip(np.hypot(cx, cy) / 0.75, 0, 0.8)
        score = size * centrality
        score[(faces.track_id < 0) | (size < self.params.min_height)] = 0
        return score

    def others(self, faces: Faces, width: int, height: int) -> Faces:
        """The faces to cover: all of ``faces`` but the main one."""
        score = self.scores(faces, width, height)
        ids = faces.track_id
        if self.main_id is not None and self.main_id not in ids:
            self.main_id = self._reborn(faces)  # else the main face is gone: everyone is covered until one qualifies
        best = int(np.argmax(score)) if len(score) and score.max() > 0 else None
        best_id = int(ids[best]) if best is not None else None
        if best_id is not None and best_id != self.main_id:
            main_score = score[ids == self.main_id][0] if self.main_id is not None else 0.0
            if self.main_id is None or score[best] > self.params.switch_ratio * main_score:
                self._streak = self._streak + 1 if best_id == self._candidate else 1
                self._candidate = best_id
                if self._streak >= self.params.dwell_frames:
                    self.main_id, self._candidate, self._streak = best_id, None, 0
            else:
                self._candidate, self._streak = None, 0
        else:
            self._candidate, self._streak = None, 0
        if self.main_id is None:
            self._main_box = None
            return faces
        self._main_box = faces.xyxy[ids == self.main_id][0]
        return faces[(ids != self.main_id) & ~self._part_of_main(faces)]

    def _reborn(self, faces: Faces) -> int | None:
        """The id of a tracked face where the main face's ended track last was, if any."""
        if self._main_box is None or len(faces) == 0:
            return None
        iou = iou_matrix(self._main_box[None], faces.xyxy)[0]
        iou[faces.track_id < 0] = 0
        best = int(np.argmax(iou))
        return int(faces.track_id[best]) if iou[best] >= self.params.reborn_iou else None

    def _part_of_main(self, faces: Faces) -> np.ndarray:
        main = faces.xyxy[faces.track_id == self.main_id][0]
        inside = intersection_matrix(faces.xyxy, main[None])[:, 0] / np.maximum(faces.width * faces.height, 1e-6)
        return (inside >= self.params.part_inside) & (faces.height >= self.params.part_height * (main[3] - main[1]))
