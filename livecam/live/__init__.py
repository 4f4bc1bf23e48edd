"""The live path: camera -> newest frame -> anonymize -> virtual camera, failing closed.

Threads and who owns what:

* the **capture thread** (``live.grabber.Grabber``) keeps only the newest camera frame;
* the **detection thread** (``DetectionWorker``) is the only one that calls the detector; it
  always takes the newest frame offered and hands back results;
* the **pipeline thread** (``LivePipeline``) owns all pipeline state: settings, tracker,
  presenter choice, fail-closed decision. It never waits for the detector: every frame is
  sent as soon as it arrives, covered with the tracker's boxes predicted to its capture time;
* anyone else (tray, hotkeys, CLI) talks to it only through ``send(Command)`` and reads the
  immutable ``status`` / ``settings`` snapshots it publishes.

Fail closed: the whole frame is obscured (with a notice) whenever the face boxes cannot be
trusted: before the first detection, after the detector raised, when the newest detection
is older than ``settings.stale_ms`` (a hung or too-slow detector), when the model failed
to load, and while the camera is lost. It recovers by itself when detections flow again.
"""

from livecam.live.commands import (STOP, Command, FrameReport, Mode, Status, cycle, keep_me_visible,
                                   set_values, toggle)
from livecam.live.gate import Evidence, distrust
from livecam.live.pipeline import LivePipeline
from livecam.live.wiring import build_pipeline, run_cli, start_from_camera, start_hotkeys, wait_until_stopped
from livecam.live.worker import AUTO_SIZES, CPU_DETECT_HZ, DetectionWorker, DetResult

__all__ = ["AUTO_SIZES", "CPU_DETECT_HZ", "STOP", "Command", "DetResult", "DetectionWorker",
           "Evidence", "FrameReport", "LivePipeline", "Mode", "Status", "build_pipeline", "cycle",
           "distrust", "keep_me_visible", "run_cli", "set_values", "start_from_camera", "start_hotkeys", "toggle",
           "wait_until_stopped"]
