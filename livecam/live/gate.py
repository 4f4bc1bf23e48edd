"""The fail-closed gate: whether the tracker's boxes for a frame can be trusted (a pure function).

The live pipeline asks it for every frame; ``livecam eval --live-hz`` asks it the same way, so the
numbers it reports are the live rule's.
"""

from __future__ import annotations

from dataclasses import dataclass

from livecam.motion import SCENE_CHANGE, View, change_since
from livecam.scene import SceneTracker


@dataclass(frozen=True)
class Evidence:
    """What is known about the detections when a frame is to be sent."""

    load_error: str | None = None      # the model failed to load
    detector_error: str | None = None  # the newest detection raised
    model_ready: bool = True           # the model is loaded and its size chosen
    last_ok_t: float | None = None     # capture time of the good detection nearest to the frame
    det_view: View | None = None       # the frame that detection ran on (None: dropped, or before the scene)
    det_in_scene: bool = True          # that frame belongs to the current scene (no cut since)


def distrust(ev: Evidence, t: float, now: View, scale: float, stale_ms: float) -> str | None:
    """Why the boxes for the frame captured at ``t`` (seen as ``now``) cannot be trusted, or None.
    ``scale``: frame pixels per thumbnail pixel."""
    if ev.load_error:
        return f"face model failed to load: {ev.load_error}"
    if ev.detector_error:
        return f"face detector failed: {ev.detector_error}"
    if ev.last_ok_t is None:
        return "starting: loading the face model" if not ev.model_ready else "starting: first detection"
    age = abs(t - ev.last_ok_t)  # with a delay, the nearest detection may be of a later frame
    if age * 1000 > stale_ms:
        return f"face detection stalled: newest result is {age * 1000:.0f} ms old"
    if ev.det_view is None or not ev.det_in_scene:
        return "scene change: waiting for a detection of the new picture"
    change = change_since(ev.det_view, now, scale)
    if change > SCENE_CHANGE:
        return f"scene change: waiting for a detection (change {change:.0f})"
    return None


def judge(scene: SceneTracker, seq: int, t: float, stale_ms: float, load_error: str | None = None,
          detector_error: str | None = None, model_ready: bool = True) -> str | None:
    """``distrust`` for frame ``seq`` of ``scene`` captured at ``t``, with the newest detection's
    evidence taken from the scene and the detector's own state given by the caller."""
    ev = Evidence(load_error=load_error, detector_error=detector_error, model_ready=model_ready,
                  last_ok_t=scene.det_t, det_view=scene.det_view, det_in_scene=scene.det_in_scene)
    return distrust(ev, t, scene.view(seq), scene.scale, stale_ms)
