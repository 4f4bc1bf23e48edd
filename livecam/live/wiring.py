"""Wiring: camera, detector and outputs for the given settings, and running until stopped."""

from __future__ import annotations

import logging
import sys
from functools import partial
from typing import TYPE_CHECKING, Callable

import cv2

from livecam import policy
from livecam.detectors import Detector
from livecam.errors import LivecamError
from livecam.live.commands import Command, FrameReport
from livecam.live.pipeline import LivePipeline
from livecam.live.worker import DetectionWorker
from livecam.people import Describer, People, PeopleError, RecognitionWorker, load_people, require
from livecam.live.hotkeys import Hotkeys  # pynput itself is loaded only when hotkeys are registered
from livecam.settings import Settings
from livecam.outputs import Format, Outputs, Started, check_outputs, open_outputs
from livecam.outputs.base import Sink
from livecam.live.grabber import Grabber
from livecam.inputs import FrameSource
from livecam.text import TextFinder
from livecam.text.finder import load_text_finder
from livecam.text.live import LiveText, TextWorker

if TYPE_CHECKING:  # aiohttp (~0.2 s to import) loads only with --serve, PyAV with --push or a network camera
    from livecam.audio import AudioTap
    from livecam.serve import Address, WebServer

log = logging.getLogger(__name__)


LIVE_CV_THREADS = 1
"""OpenCV's worker threads in a live process (its setting is process-wide): the painting, resizing and motion
steps run one frame at a time in the pipeline thread, and on a busy machine OpenCV's parallel loops wait for
workers the scheduler runs late. Painting the faces of street-clip frames (40 boxes a frame at 1280x720):
15.5 ms a frame with one thread against 24.1 ms with two beside two busy processes; idle 11.5 against 12.0 ms."""


def build_pipeline(settings: Settings, open_source: Callable[[], FrameSource], sink: Sink, *,
                   first_source: FrameSource | None = None, make_detector: Callable[[], Detector] | None = None,
                   on_frame: Callable[[FrameReport], None] | None = None, camera_name: str = "",
                   budget_ms: float | None = None, make_describer: Callable[[], Describer] | None = None,
                   people: People | None = None, text_finder: TextFinder | None = None) -> LivePipeline:
    """Wire capture, detection and output for ``settings``; call ``.start()`` on the result. With people
    enrolled (``people``, default: ``livecam people``'s file), identity checks run in a process of their
    own for ``--keep`` and presenter mode; a ``--keep`` name nobody enrolled is an error here. ``--cover`` plates or
    text: ``text_finder`` (default: ``--cover``'s, loaded here: a missing model stops start-up with its fix)."""
    people = people if people is not None else load_people()
    require(people, settings.keep)
    cv2.setNumThreads(LIVE_CV_THREADS)
    recognizer = _recognizer(make_describer or Describer, required=bool(settings.keep))
    src = first_source or open_source()
    fps = settings.fps or src.fps or 30.0
    grabber = Grabber(open_source, first=src)
    worker = DetectionWorker(make_detector or partial(policy.load_settings_detector, settings, live=True), settings,
                             budget_ms=budget_ms)
    finder = text_finder or load_text_finder(settings.cover)
    return LivePipeline(grabber, worker, sink, settings, (src.width, src.height), fps, camera_name=camera_name,
                        on_frame=on_frame, people=people, recognizer=recognizer,
                        text=LiveText(None if finder is None else TextWorker(lambda: finder), cover=settings.cover))


def _recognizer(make_describer: Callable[[], Describer], required: bool) -> RecognitionWorker | None:
    """The identity checks (``--keep``, presenter mode with people enrolled, "Keep me visible"; their
    process starts with the first check); without face recognition installed it is an error only when
    ``--keep`` asks for it."""
    try:
        return RecognitionWorker(make_describer)
    except PeopleError as e:
        if required:
            raise
        log.info("%s: --keep and 'Keep me visible' are off", e)
        return None


def start_from_camera(settings: Settings, outputs: Outputs) -> LivePipeline:
    """Open the camera of ``settings`` and the ``outputs`` and start the pipeline."""
    from livecam.inputs import open_camera, open_source

    people = load_people()
    require(people, settings.keep)  # before the camera opens: an unknown --keep name costs nothing
    check_outputs(outputs, settings.camera)  # so does a bad --output or --push
    web = start_web_server(outputs.serve) if outputs.serve is not None else None  # a port in use: before the camera
    sound = _sound_for_push(settings, outputs)
    try:
        cam = open_camera(settings.camera, settings.size, settings.fps, audio=sound)
    except BaseException:
        if web is not None:
            web.close()
        raise
    spec = cam.spec
    fps = settings.fps or cam.fps
    try:
        sink = open_outputs(outputs, Format(cam.width, cam.height, fps), Started(web, sound))
    except BaseException:
        cam.close()
        raise
    pipeline = build_pipeline(settings, lambda: open_source(spec, settings.size, settings.fps, audio=sound), sink,
                              first_source=cam, people=people,
                              camera_name=f"camera {spec} ({cam.width}x{cam.height} @ {fps:g} fps)")
    if web is not None:
        web.attach(pipeline)
    if sound is not None:  # the sound waits as long as the pictures do, --delay changed from the tray too
        pipeline.add_listener(sound.follow)
    return pipeline.start()


def _sound_for_push(settings: Settings, outputs: Outputs) -> AudioTap | None:
    """The hand-over of a network camera's sound to ``--push`` (a local camera's picture has none)."""
    from livecam.inputs.network import is_network

    if outputs.push is None or not settings.camera or not is_network(settings.camera):
        return None
    from livecam.audio import AudioTap

    return AudioTap(settings.delay_s)


def start_web_server(address: Address) -> WebServer:
    """The ``--serve`` server, bound and running (its token made on first use)."""
    from livecam.serve import WebServer, load_or_create_token

    return WebServer(address, token=load_or_create_token()).start()


def wait_until_stopped(pipeline: LivePipeline) -> None:
    """Block until the pipeline stops (SIGTERM / Ctrl+C stop it); re-raise its error as a LivecamError.

    The pipeline closes its outputs itself (a recording gets its index written); a second Ctrl+C
    while it does so is ignored, as leaving then would abort the process mid-encode and leave an
    unreadable file."""
    import signal

    stopping = []

    def stop(*_: object) -> None:
        log.info("stopping")
        stopping.append(True)
        pipeline.stop()
        signal.signal(signal.SIGINT, lambda *_: log.info("still stopping: closing the outputs"))

    old_term = signal.signal(signal.SIGTERM, stop)
    old_int = signal.signal(signal.SIGINT, stop)
    try:
        while not pipeline.wait(0.5):
            pass
    finally:
        signal.signal(signal.SIGTERM, old_term)
        # once stopping, a further Ctrl+C is ignored to the end (Python's own handler is gone while the
        # interpreter shuts down, and the default one would kill it with an unfinished exit)
        signal.signal(signal.SIGINT, signal.SIG_IGN if stopping else old_int)
    if pipeline.error is not None:
        if isinstance(pipeline.error, LivecamError):
            raise pipeline.error
        raise LivecamError(f"the live pipeline stopped: {type(pipeline.error).__name__}: {pipeline.error}")


def run_cli(settings: Settings, outputs: Outputs) -> int:
    """``livecam run``: until Ctrl+C / SIGTERM; returns the exit code. The global hotkeys work here
    too, wherever a desktop session is there to deliver them."""
    pipeline = start_from_camera(settings, outputs)
    log.info("running: %s -> anonymized output. %sCtrl+C stops.", pipeline.status.camera,
             "Select the 'livecam' camera in your app; " if outputs.vcam else "")
    hotkeys = start_hotkeys(settings, pipeline.send)
    try:
        wait_until_stopped(pipeline)
    finally:
        if hotkeys is not None:
            hotkeys.stop()
    return 0


def start_hotkeys(settings: Settings, send: Callable[[Command], None]) -> Hotkeys | None:
    """The global hotkeys of ``settings``, or None where there is no desktop session to register them with."""
    import os

    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        log.info("no desktop session: global hotkeys are off")
        return None
    return Hotkeys(settings.hotkeys, send)
