"""Faces followed through a moving picture: the one place where frames, detections and boxes meet.

``SceneTracker`` is the detect -> stabilise -> track step that every mode shares: file mode
(``Anonymizer``, a detection on every frame), the live pipeline (detections arrive late, from
another thread, for frames already shown) and ``livecam eval --live-hz`` (detections at a set
rate). It is fed frames by sequence number:

* ``see(seq, frame)`` measures the camera's motion up to this frame; a cut (or a caller's
  ``new_scene``, e.g. the camera came back at another size) starts a new scene;
* ``detected(seq, faces, t)`` applies a detection that ran on frame ``seq`` (captured at ``t``):
  its boxes are moved into camera-stabilised coordinates by that frame's offset; a detection of a
  frame from before the current scene is dropped, and the first one of a scene starts the
  tracker afresh;
* ``faces(seq, t)`` gives the boxes to cover on frame ``seq`` at ``t``, moved back by its offset;
* ``det_t``, ``det_view`` and ``det_in_scene`` describe the newest detection in use: what the
  fail-closed gate (``livecam.live.gate``) judges those boxes by.

Not thread-safe: one thread owns it.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np

from livecam.faces import Faces
from livecam.motion import CameraMotion, View
from livecam.tracker import FaceTracker, TrackerParams

KEEP_FRAMES = 512
"""Frames remembered (offset and thumbnail); a detection of an older frame is dropped."""


class SceneTracker:
    """Tracks faces in camera-stabilised coordinates, scene by scene. See the module docstring."""

    def __init__(self, params: TrackerParams | None = None):
        self.tracker = FaceTracker(params)
        self._motion = CameraMotion()
        self._views: OrderedDict[int, View] = OrderedDict()  # seq -> (camera offset, thumbnail)
        self.epoch = 0                     # first frame of the current scene
        self.det_seq: int | None = None    # the frame the newest detection in use ran on
        self.det_t: float | None = None    # its capture time

    @property
    def scale(self) -> float:
        """Frame pixels per thumbnail pixel."""
        return self._motion.scale

    def set_params(self, params: TrackerParams) -> None:
        """Tracker parameters from the next detection on (the user changed the threshold)."""
        self.tracker.params = params

    def see(self, seq: int, frame: np.ndarray, new_scene: bool = False) -> bool:
        """Frame ``seq`` (BGR ``uint8 (H, W, 3)``, sequence numbers increasing): measure the camera's
        motion since the previous frame. Returns True when this frame starts a new scene."""
        cut = self._motion.step(frame) or new_scene
        if cut:
            self.epoch = seq
        self._views[seq] = self._motion.view
        while len(self._views) > KEEP_FRAMES:
            self._views.popitem(last=False)
        return cut

    def detected(self, seq: int, faces: Faces, t: float) -> bool:
        """Apply a detection that ran on frame ``seq`` (captured at ``t`` seconds). Returns False
        when it is dropped: its frame is from before the current scene, or no longer remembered."""
        view = self._views.get(seq)
        if seq < self.epoch or view is None:
            return False
        if not self.det_in_scene:
            self.tracker.reset()  # the first detection of a new scene
        if self.tracker.time is not None:
            t = max(t, self.tracker.time)  # a slow detection may finish after a newer one was applied
        ox, oy = view[0]
        self.tracker.update(faces.moved(-ox, -oy), t)
        self.det_seq, self.det_t = seq, t
        return True

    def faces(self, seq: int, t: float, tentative: bool = False) -> Faces:
        """The tracked boxes on frame ``seq`` at ``t`` seconds (frame coordinates): confirmed tracks,
        and tentative ones too with ``tentative``; none before the scene's first detection."""
        if not self.det_in_scene:
            return Faces.empty()
        return self.tracker.predict(t, tentative=tentative).moved(*self._views[seq][0])

    @property
    def detected_ids(self) -> np.ndarray:
        """Ids of the tracks the newest detection found (their box on its frame is the detection)."""
        return self.tracker.detected_ids if self.det_in_scene else np.zeros(0, np.int64)

    @property
    def confirmed_ids(self) -> np.ndarray:
        """Ids of the tracks confirmed so far among the live ones."""
        return self.tracker.confirmed_ids if self.det_in_scene else np.zeros(0, np.int64)

    def view(self, seq: int) -> View:
        return self._views[seq]

    def remembered(self, seq: int) -> View | None:
        """Frame ``seq``'s view, or None when it is no longer remembered."""
        return self._views.get(seq)

    @property
    def det_view(self) -> View | None:
        """The frame the newest detection in use ran on, as ``(offset, thumbnail)``; None when it is
        no longer remembered."""
        return self._views.get(self.det_seq) if self.det_seq is not None else None

    @property
    def det_in_scene(self) -> bool:
        """Whether the newest detection ran on a frame of the current scene."""
        return self.det_seq is not None and self.det_seq >= self.epoch
