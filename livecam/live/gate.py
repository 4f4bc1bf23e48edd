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
    before_only: bool = False          # that detection is of an earlier frame, and none of this frame or of any
    # later one has arrived (the detector stalled: with a delay, the frame leaves without the detection the
    # delay waits for; a cut since, whose new picture was detected, is not a stall)


BLIND_MS = 100.0
"""With a delay, the shortest time a frame judged only by an earlier detection is trusted after it (see
``blind_limit_ms``): about one detection interval of a busy machine's detector (~10 Hz)."""


def blind_limit_ms(stale_ms: float, delay_s: float) -> float:
    """How long after the newest earlier detection a frame with no detection of itself or a later frame is
    trusted. Without a delay: the stale limit (a face that came in since is bare until the next detection,
    for at most that long). With a delay a working detector always delivers a later detection before the
    frame leaves (which covers a new face back to its first frame); when none came, the face that came in
    since would be bare: only what the delay does not already give the detector, ``stale - delay``, at least
    ``BLIND_MS``. Beside two busy processes at ``--delay 0.5``, a detector stalled at start-up let frames
    0.2-0.3 s after their last detection out with a face walking in bare for 4 frames."""
    return stale_ms if delay_s <= 0 else min(stale_ms, max(BLIND_MS, stale_ms - delay_s * 1000))


def distrust(ev: Evidence, t: float, now: View, scale: float, stale_ms: float,
             blind_ms: float | None = None) -> str | None:
    """Why the boxes for the frame captured at ``t`` (seen as ``now``) cannot be trusted, or None.
    ``scale``: frame pixels per thumbnail pixel; ``blind_ms``: ``blind_limit_ms`` (None: the stale limit)."""
    if ev.load_error:
        return f"face model failed to load: {ev.load_error}"
    if ev.detector_error:
        return f"face detector failed: {ev.detector_error}"
    if ev.last_ok_t is None:
        return "starting: loading the face model" if not ev.model_ready else "starting: first detection"
    age = abs(t - ev.last_ok_t)  # with a delay, the nearest detection may be of a later frame
    if age * 1000 > stale_ms:
        return f"face detection stalled: newest result is {age * 1000:.0f} ms old"
    if ev.before_only and blind_ms is not None and age * 1000 > blind_ms:
        return (f"face detection stalled: nothing detected in this frame or after it within the delay "
                f"(newest before it {age * 1000:.0f} ms)")
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
