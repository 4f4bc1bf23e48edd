"""Desktop front end: the menu as data on a running pipeline (observed on output frames),
settings written back, and, under Xvfb with a tray host, the icon docking, changing colour,
and the global hotkeys sent with xdotool."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from livecam import settings as S
from livecam.effects import Effect
from livecam.text import Cover
from livecam.live import Mode
from livecam.live.commands import reason_kind
from livecam.live.pipeline import FLAPPING_KINDS
from livecam.settings import Settings
from tests.conftest import DATA, is_magenta, needs_data
from tests.helpers import Follow, read_video
from tests.test_effects import retained_detail
from tests.test_live import _ytf
from livecam.tray.menu import STATE_COLORS, find, menu


def _start(settings, frames):
    from livecam import live
    from livecam.harness import replay
    from livecam.inputs.replay import ReplaySource
    from livecam.outputs import Format, Outputs, open_outputs

    replay.register()
    replay.RecordingBackend.instances.clear()
    src = ReplaySource(frames, 25.0, loop=True)
    reports: list[live.FrameReport] = []
    sink = open_outputs(Outputs(vcam_backend=replay.BACKEND), Format(src.width, src.height, 25.0))
    backend = replay.RecordingBackend.instances[-1]
    backend.keep = True
    pipe = live.build_pipeline(settings, lambda: src, sink, first_source=src, on_frame=reports.append)
    pipe.prepare(frames[0])
    return pipe.start(), backend, reports


def _frames_after(backend, reports, t0, n=10, anonymized=False):
    """(output, report) pairs of frames captured after ``t0``, waiting for ``n`` of them (``anonymized``:
    only frames that were not wholly obscured; on a busy machine detection may stall for a while)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pairs = [(o, r) for o, r in zip(list(backend.frames), list(reports))
                 if r.capture_t > t0 and r.index >= 0 and not (anonymized and r.obscured_all)]
        if len(pairs) >= n:
            return pairs
        time.sleep(0.05)
    raise AssertionError("no frames")


@needs_data
def test_menu_items_change_the_running_pipeline_and_are_saved(tmp_path):
    from livecam.tray.app import TrayApp

    frames, track = _ytf("Aaron_Guiel5")
    cfg = tmp_path / "settings.toml"
    pipe, backend, reports = _start(Settings(color=(255, 0, 255)), frames)
    app = TrayApp(pipe, cfg)
    try:
        time.sleep(0.5)

        def click(label):
            app.activate(find(app.items(), label))
            time.sleep(0.3)  # commands apply on the pipeline's next frame
            return time.monotonic()

        t = click("Solid")
        for out, r in _frames_after(backend, reports, t, anonymized=True):
            assert is_magenta(out, tol=0).mean() > 0.01, "solid effect not applied"
        t = click("Privacy screen (cover everything)")
        for out, r in _frames_after(backend, reports, t):
            assert r.reason == "privacy screen" and retained_detail(frames[r.index % len(frames)], out) < 0.05
        assert find(app.items(), "Privacy screen (cover everything)").checked is True
        assert app.items()[0].label == "livecam: privacy screen"
        click("Privacy screen (cover everything)")
        t = click("Anonymize faces")
        for out, r in _frames_after(backend, reports, t):
            assert np.array_equal(out, frames[r.index % len(frames)]), "anonymize off passes the camera through"
        t = click("Anonymize faces")
        t = click("Pixelate")
        for out, r in _frames_after(backend, reports, t):
            assert not np.array_equal(out, frames[r.index % len(frames)]) and is_magenta(out, tol=0).mean() == 0
        click("Strong")
        click("Presenter mode (keep main face visible)")
        assert pipe.settings.presenter and pipe.settings.strength == 2.0
        app.flush()
        saved = S.load(cfg)
        assert (saved.effect, saved.strength) == (Effect.PIXELATE, 2.0)
        assert not re.search(r"^(anonymize|presenter|privacy_screen) =", cfg.read_text(), re.M), \
            "session state is never written"
        assert saved.color == (0, 0, 0), "only what the tray changes is written, not this run's overrides"
    finally:
        pipe.stop()
        pipe.wait(10)


def test_menu_is_data():
    from livecam.live import Status

    items = menu(Status(mode=Mode.FAILING_CLOSED, reason="face detector failed: boom"), Settings())
    labels = [i.label for i in items]
    assert labels[0] == "livecam: failing closed (face detector failed)"
    assert "Quit" in labels and "Show preview" in labels and "Open settings file" in labels
    assert [i.label for i in find(items, "Effect").submenu] == ["Blur", "Pixelate", "Solid"]
    assert [i.checked for i in find(items, "Effect").submenu] == [True, False, False]
    assert find(items, "Anonymize faces").checked is True
    delays = find(items, "Delay (look ahead)").submenu
    assert [i.checked for i in delays] == [True, False, False, False, False]
    assert find(items, "0.5 s (streaming)").command.apply(Settings()).delay_s == 0.5
    # Keep visible: "Keep me visible" enrols (a command the pipeline runs), then one check item per person enrolled
    keep = menu(Status(people=("alice", "bob")), Settings(keep=("bob",)))
    sub = find(keep, "Keep visible").submenu
    assert sub[0].command.enrol and [i.label for i in sub[2:]] == ["alice", "bob"]
    assert [i.checked for i in sub[2:]] == [False, True]
    assert find(keep, "alice").command.apply(Settings(keep=("bob",))).keep == ("bob", "alice")
    assert find(keep, "bob").command.apply(Settings(keep=("bob",))).keep == ()


class _FakePipeline:
    """Applies sent commands to its settings at once, like the pipeline thread would on its next frame."""

    def __init__(self):
        from livecam.live import Status

        self.status, self.settings, self.stopped = Status(mode=Mode.ANONYMIZING), Settings(), False

    def send(self, command):
        self.settings = command.apply(self.settings)

    def add_listener(self, fn):
        pass

    def stop(self):
        self.stopped = True


def _real_pystray(monkeypatch):
    """pystray's own Menu/MenuItem classes (the same on every backend; the dummy one needs no desktop).
    The backend choice must not leak into the environment of tray processes started by later tests."""
    monkeypatch.setenv("PYSTRAY_BACKEND", "dummy")
    import pystray

    return pystray


def test_the_real_pystray_menu_builds_and_every_item_works(tmp_path, monkeypatch):
    """pystray refuses callbacks with more than (icon, item) parameters: a menu built with them never
    appears on AppIndicator and does nothing on GTK. Build the real menu and click every item."""
    from livecam.tray.app import TrayApp

    pystray = _real_pystray(monkeypatch)
    pipe = _FakePipeline()
    app = TrayApp(pipe, tmp_path / "settings.toml")
    opened = []
    monkeypatch.setattr(app, "open_settings", lambda: opened.append(True))
    root = app._pystray_menu(pystray)

    def leaves(m):
        for it in m.items:
            if it.submenu is not None:
                yield from leaves(it.submenu)
            elif it is not pystray.Menu.SEPARATOR and it.enabled:
                yield it

    labels = [it.text for it in leaves(root)]
    assert labels == ["Anonymize faces", "Privacy screen (cover everything)", "Presenter mode (keep main face visible)",
                      "Keep me visible (look at the camera, alone, for 4 s)", "Faces", "Faces and licence plates",
                      "Faces and all text", "Blur", "Pixelate", "Solid", "Light", "Normal", "Strong", "Maximum", "None (video calls)",
                      "0.25 s", "0.5 s (streaming)", "1 s", "2 s", "Show preview", "Open settings file", "Quit"]
    icon = object()
    expected = {"Anonymize faces": ("anonymize", False), "Privacy screen (cover everything)": ("privacy_screen", True),
                "Presenter mode (keep main face visible)": ("presenter", True), "Pixelate": ("effect", Effect.PIXELATE),
                "Solid": ("effect", Effect.SOLID), "Blur": ("effect", Effect.BLUR), "Light": ("strength", 0.5),
                "Maximum": ("strength", 4.0), "Strong": ("strength", 2.0), "Normal": ("strength", 1.0),
                "Show preview": ("preview", True), "None (video calls)": ("delay_s", 0.0), "0.25 s": ("delay_s", 0.25),
                "0.5 s (streaming)": ("delay_s", 0.5), "1 s": ("delay_s", 1.0), "2 s": ("delay_s", 2.0),
                "Faces and licence plates": ("cover", (Cover.FACES, Cover.PLATES)), "Faces": ("cover", (Cover.FACES,)),
                "Faces and all text": ("cover", (Cover.FACES, Cover.TEXT))}
    for item in leaves(root):
        before = item.checked
        item(icon)  # what pystray does on a click
        if item.text in expected:
            key, value = expected[item.text]
            assert getattr(pipe.settings, key) == value, item.text
            if before is not None and not item.radio:
                assert item.checked is (not before), f"{item.text} shows its new state"
    assert opened == [True] and pipe.stopped, "open settings and quit ran"


def test_failing_closed_notifications_do_not_flap():
    """Under load the state flips between anonymizing and failing closed every few seconds: the icon
    follows each change, but one notification per kind of failure per minute."""
    from livecam.live import Status
    from livecam.tray.app import TrayApp

    now = [0.0]
    app = TrayApp(_FakePipeline(), clock=lambda: now[0])
    fail = Status(mode=Mode.FAILING_CLOSED, reason="face detection stalled: newest result is 450 ms old")
    ok = Status(mode=Mode.ANONYMIZING)
    for _ in range(11):  # 11 flips in 30 s, as measured under load
        app._apply(fail, Settings())
        now[0] += 1.4
        app._apply(ok, Settings())
        now[0] += 1.4
    assert len(app.notifications) == 1
    app._apply(Status(mode=Mode.FAILING_CLOSED, reason="face detector failed: boom"), Settings())
    assert len(app.notifications) == 2, "another kind of failure is told at once"
    now[0] += 61
    app._apply(ok, Settings())
    app._apply(fail, Settings())
    assert len(app.notifications) == 3


DESKTOP_TOOLS = ("Xvfb", "trayer", "xdotool", "import", "xwininfo")


@pytest.fixture
def desktop(tmp_path):
    missing = [t for t in DESKTOP_TOOLS if shutil.which(t) is None]
    if missing or not sys.platform.startswith("linux"):
        pytest.skip(f"needs {', '.join(missing)} (scripts/test.sh installs them on Debian/Ubuntu)")
    display = f":{100 + os.getpid() % 500}"
    procs = [subprocess.Popen(["Xvfb", display, "-screen", "0", "640x200x24", "-nolisten", "tcp"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    env = {**os.environ, "DISPLAY": display}
    for _ in range(50):
        if subprocess.run(["xdotool", "getmouselocation"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    procs.append(subprocess.Popen(["trayer", "--edge", "top", "--align", "right", "--widthtype", "request",
                                   "--height", "32", "--transparent", "false", "--tint", "0x202020"], env=env,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1)
    yield env
    for p in reversed(procs):
        p.terminate()
        p.wait(5)


def _icon_color(env, tmp_path, name):
    shot = tmp_path / f"{name}.png"
    subprocess.run(["import", "-window", "root", str(shot)], env=env, check=True)
    from PIL import Image

    img = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    found = {}
    for mode, rgb in STATE_COLORS.items():
        found[mode] = int((np.abs(img - np.array(rgb)).max(axis=2) <= 12).sum())
    return max(found, key=found.__getitem__), found


def _wait_for_color(env, tmp_path, mode, timeout=40):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got, counts = _icon_color(env, tmp_path, mode.name)
        if got is mode and counts[mode] > 8:  # a 24 px icon, partly covered by its glyph
            return
        time.sleep(0.5)
    raise _IconStuck(f"icon never turned {mode}: {counts}")


class _IconStuck(AssertionError):
    """The icon stopped following the state (a known pystray xorg race under load, see below)."""


@needs_data
def test_tray_icon_docks_changes_colour_and_hotkeys_work(desktop, tmp_path):
    """One retry, only for an icon that stops following the state: pystray's xorg backend hands each
    icon change from another thread to its event loop through an X message, and under load (a full
    CI run on 2 cores) about 1 run in 10 that message is never answered (python-xlib can read the
    event in the sending thread while the loop's thread sleeps in its socket read). Everything else
    (docking, every colour, hotkeys, settings written, SIGTERM exit code) must pass first time."""
    try:
        _tray_desktop_scenario(desktop, tmp_path / "1")
    except _IconStuck as e:
        print(f"retrying once after: {str(e).splitlines()[0]}")
        _tray_desktop_scenario(desktop, tmp_path / "2")


def _tray_desktop_scenario(desktop, tmp_path):
    tmp_path.mkdir(parents=True, exist_ok=True)
    env = {**desktop, "LIVECAM_CONFIG": str(tmp_path / "settings.toml"), "PYSTRAY_BACKEND": "xorg"}
    p = subprocess.Popen([sys.executable, "-m", "livecam", "tray", "--camera", DATA / "clips" / "street-1080p.mp4",
                          "--no-vcam", "--output", tmp_path / "out.mp4"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 40
        line = ""
        while time.monotonic() < deadline:  # the window exists (1x1) before the tray host docks it
            tree = subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout
            line = next((ln for ln in tree.splitlines() if "livecamSystemTrayIcon" in ln), "")
            if "24x" in line:
                break
            time.sleep(0.3)
        assert "24x" in line, f"icon not docked at a usable size: {line!r}"
        _wait_for_color(env, tmp_path, Mode.ANONYMIZING)
        subprocess.run(["xdotool", "key", "ctrl+alt+shift+p"], env=env, check=True)
        _wait_for_color(env, tmp_path, Mode.PRIVACY)
        subprocess.run(["xdotool", "key", "ctrl+alt+shift+p"], env=env, check=True)
        _wait_for_color(env, tmp_path, Mode.ANONYMIZING)
        subprocess.run(["xdotool", "key", "ctrl+alt+shift+a"], env=env, check=True)
        _wait_for_color(env, tmp_path, Mode.PAUSED)
        subprocess.run(["xdotool", "key", "ctrl+alt+shift+e"], env=env, check=True)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            saved = S.load(tmp_path / "settings.toml", missing_ok=True)  # written when the tray gets to it
            if saved.effect is Effect.PIXELATE:
                break
            time.sleep(0.2)
        assert saved.effect is Effect.PIXELATE
        text = (tmp_path / "settings.toml").read_text()
        assert not re.search(r"^(anonymize|privacy_screen) =", text, re.M), "a pause must not survive a restart"
    except AssertionError as e:
        p.terminate()
        out, _ = p.communicate(timeout=30)
        raise type(e)(f"{e}\n--- livecam tray output ---\n{out}") from None
    finally:
        p.terminate()
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            out, _ = p.communicate()
            raise AssertionError(f"livecam tray did not stop on SIGTERM:\n{out}")
    assert p.returncode == 0, out


@pytest.fixture
def bare_desktop():
    """An X server with no tray host (and no panel)."""
    if shutil.which("Xvfb") is None or shutil.which("xdotool") is None:
        pytest.skip("needs Xvfb and xdotool (scripts/test.sh installs them on Debian/Ubuntu)")
    display = f":{600 + os.getpid() % 300}"
    p = subprocess.Popen(["Xvfb", display, "-screen", "0", "640x200x24", "-nolisten", "tcp"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = {**os.environ, "DISPLAY": display}
    for _ in range(50):
        if subprocess.run(["xdotool", "getmouselocation"], env=env, capture_output=True).returncode == 0:
            break
        time.sleep(0.1)
    yield env
    p.terminate()
    p.wait(5)


def _has_gtk() -> bool:
    try:
        import gi  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.mark.parametrize("backend", ["xorg", pytest.param("gtk", marks=pytest.mark.skipif(
    not _has_gtk(), reason="needs PyGObject (the [menu] extra; scripts/test.sh installs it on Debian/Ubuntu)"))])
def test_no_tray_host_is_said_once_and_livecam_keeps_running(bare_desktop, tmp_path, backend):
    env = {**bare_desktop, "LIVECAM_CONFIG": str(tmp_path / "settings.toml"), "PYSTRAY_BACKEND": backend}
    p = subprocess.Popen([sys.executable, "-m", "livecam", "tray", "--camera", "demo",
                          "--no-vcam", "--output", tmp_path / "out.mp4"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        time.sleep(8)
        for key in ("ctrl+alt+shift+p", "ctrl+alt+shift+p", "ctrl+alt+shift+a", "ctrl+alt+shift+a"):
            subprocess.run(["xdotool", "key", key], env=env, check=True)  # state changes: each one redraws the icon
            time.sleep(0.7)
        assert p.poll() is None, "livecam must keep running without a tray"
    finally:
        p.terminate()
        out, _ = p.communicate(timeout=30)
    assert p.returncode == 0, out
    assert "Traceback" not in out, out
    assert out.count("no system tray on this desktop") == 1, out
    frames, _, _ = read_video(tmp_path / "out.mp4")
    assert len(frames) >= 5, "the recording went on"


def _detail(frame) -> float:
    """High-frequency energy above the notice banner: ~0 for a wholly obscured frame."""
    import cv2

    grey = cv2.cvtColor(frame[: frame.shape[0] - 40], cv2.COLOR_BGR2GRAY)
    return float(cv2.Laplacian(grey, cv2.CV_64F).var())


@needs_data
def test_hotkeys_work_in_livecam_run_too(bare_desktop, tmp_path):
    env = {**bare_desktop, "LIVECAM_CONFIG": str(tmp_path / "settings.toml")}
    p = subprocess.Popen([sys.executable, "-m", "livecam", "run", "--camera", DATA / "clips" / "stage-360p.mp4",
                          "--no-vcam", "--output", tmp_path / "out.mp4"], env=env,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    follow = Follow(p.stdout)
    try:
        follow.wait_for("anonymizing again")  # the model is loaded and faces are painted (slow on a busy machine)
        time.sleep(2)
        subprocess.run(["xdotool", "key", "ctrl+alt+shift+p"], env=env, check=True)
        follow.wait_for("toggle privacy_screen", 30)
        time.sleep(2)
    finally:
        p.terminate()
        p.wait(30)
    out = follow.text()
    assert p.returncode == 0 and "toggle privacy_screen" in out, out
    frames, _, _ = read_video(tmp_path / "out.mp4")
    # wholly obscured frames measure 0-7; anonymized ones 100+ on the clip's wide shots and 12-39 on its
    # close-ups, where blurred faces fill the picture (on a busy machine the model loaded during those)
    assert max(_detail(f) for f in frames[:-40]) > 10, "anonymized frames keep the scene's detail"
    assert max(_detail(f) for f in frames[-20:]) < 5, "after the hotkey every frame is the privacy screen"


@needs_data
def test_presenter_mode_on_a_real_two_person_clip():
    """Intel head-pose clip, two people: the bigger, more central face (right) becomes the main
    face and stays visible in every frame after it is chosen; the other stays covered."""
    from livecam import media
    from livecam.detectors import load_detector, passes

    clip = [f for f, _ in media.iter_video(DATA / "clips" / "head-pose-face-detection-female-and-male.gif")]
    # forwards then backwards: a looped GIF jumps at its end, which no camera does (the jump leaves
    # the bystander's old track coasting across the presenter for a few frames, rightly covered)
    frames = clip + clip[-2:0:-1]
    det = load_detector(device="cpu")
    truth = [passes.thorough(det, f, None, 0.2) for f in frames]  # both faces, found at full effort on every frame
    pipe, backend, reports = _start(Settings(effect=Effect.SOLID, color=(255, 0, 255), presenter=True), frames)
    time.sleep(6)
    pipe.stop()
    pipe.wait(10)
    chosen = None
    anonymized = 0
    after: list[bool] = []  # after the choice, per anonymized frame: whether the main face was visible
    # on a busy machine (detections stalled) tracks coast further and may be re-born: the presenter's
    # face is then covered again until it qualifies anew, which is safe; the flicker check needs a run
    # where detection kept up. The bystander must be covered either way.
    kept_up = not any(reason_kind(r.reason) in FLAPPING_KINDS for r in reports)
    for i, (out, r) in enumerate(zip(backend.frames, reports)):
        if r.index < 0 or r.obscured_all:
            continue
        anonymized += 1
        faces = truth[r.index % len(frames)]
        assert len(faces) == 2
        right, left = (faces[1], faces[0]) if faces.xyxy[1, 0] > faces.xyxy[0, 0] else (faces[0], faces[1])
        mask = is_magenta(out, tol=0)
        cover = {}
        for name, f in (("right", right), ("left", left)):
            x1, y1, x2, y2 = f.xyxy[0].astype(int)
            cover[name] = mask[y1:y2, x1:x2].mean()
        # the main face is visible when the middle of its box is (a coasting box of a track lost for a
        # moment, or the over-masking margin of a box beside it, may touch its edge: that hides nothing)
        x1, y1, x2, y2 = right.expanded(-0.25).xyxy[0].astype(int)
        cover["right"] = mask[y1:y2, x1:x2].mean()
        assert cover["left"] >= 0.7, f"frame {i}: the bystander is not covered"
        if chosen is None and cover["right"] < 0.05:
            chosen = anonymized  # counted in anonymized frames: a busy machine's slow start is not the chooser's
        if chosen is not None:
            after.append(cover["right"] < 0.2)  # a ghost box grazing the chin (up to 5.5% measured) hides no face
            if cover["right"] >= 0.2:
                print(f"frame {i} (clip frame {r.index % len(frames)}): the main face "
                      f"{right.xyxy[0].astype(int).tolist()} covered by {r.faces.xyxy.astype(int).tolist()}, "
                      f"tracks {r.faces.track_id.tolist()}")
    assert chosen is not None and chosen < 40, f"the main face was not chosen within 40 anonymized frames: {chosen}"
    # measured idle: 95-100% (a second, looser track on the presenter's face covers it for a few frames
    # in about one run in three: safe, and left for the per-person identity of presenter mode)
    if kept_up:
        assert sum(after) >= 0.9 * len(after), f"the main face was visible in {sum(after)} of {len(after)} frames"
    # every frame not obscured for a stalled detection or the start (a busy machine) was anonymized
    expected = [r for r in reports if r.index >= 0 and reason_kind(r.reason) not in (*FLAPPING_KINDS, "starting")]
    assert anonymized > 0.9 * len(expected)


@needs_data
def test_preview_window_lives_in_its_own_process(bare_desktop, monkeypatch):
    """OpenCV's window toolkit and a GTK tray crash when they share a process: the preview window is
    drawn by a child process that owns it alone; closing it ends that process, not livecam."""
    from livecam.outputs.preview import PreviewSink

    monkeypatch.setenv("DISPLAY", bare_desktop["DISPLAY"])
    frames, _ = _ytf("Aaron_Guiel5")
    sink = PreviewSink(title="livecam preview test")
    try:
        found = ""
        for f in frames[:60]:
            sink.send(f)
            time.sleep(0.05)
            found = subprocess.run(["xdotool", "search", "--name", "livecam preview test"], env=bare_desktop,
                                   capture_output=True, text=True).stdout.strip()
            if found:
                break
        assert found, "the preview window appeared"
        assert sink._proc.pid != os.getpid() and sink._proc.poll() is None
    finally:
        sink.close()
    assert sink._proc.poll() is not None, "closing the preview ends its process"


def test_preview_without_a_display_is_one_clear_error(monkeypatch):
    from livecam.errors import DeviceError
    from livecam.outputs.preview import PreviewSink

    monkeypatch.setenv("DISPLAY", "")
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    sink = PreviewSink()
    try:
        with pytest.raises(DeviceError, match="cannot show the preview window"):
            for _ in range(100):
                sink.send(np.zeros((120, 160, 3), np.uint8))
                time.sleep(0.05)
    finally:
        sink.close()


def _gtk_available() -> bool:
    r = subprocess.run([sys.executable, "-c", "import gi; gi.require_version('Gtk', '3.0'); from gi.repository import Gtk"],
                       capture_output=True)
    return r.returncode == 0 and shutil.which("dbus-run-session") is not None


@needs_data
def test_gtk_tray_menu_works_on_a_real_panel(desktop, tmp_path):
    """The README's Linux set-up (`pip install -e ".[menu]"`) gives pystray's GTK backend: under Xvfb with
    a real tray panel (trayer) the icon docks, a right click opens the full menu, its items work from
    the keyboard (privacy screen: the icon turns blue), and "Show preview" opens the preview window
    while the tray keeps running (it crashed the app when OpenCV's Qt shared the process with GTK)."""
    if not _gtk_available():
        pytest.skip("needs PyGObject and dbus-run-session (scripts/test.sh installs them on Debian/Ubuntu)")
    # NO_AT_BRIDGE: GTK would start an accessibility bus that outlives the test holding its output pipe
    env = {**desktop, "LIVECAM_CONFIG": str(tmp_path / "settings.toml"), "PYSTRAY_BACKEND": "gtk", "NO_AT_BRIDGE": "1"}
    script = str(Path(sys.executable).parent / "livecam")  # the command a user runs (GTK names windows after it)
    p = subprocess.Popen(["dbus-run-session", "--", script, "tray", "--camera",
                          DATA / "clips" / "stage-360p.mp4", "--no-vcam", "--output", tmp_path / "out.mp4"],
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)

    def tree():
        return subprocess.run(["xwininfo", "-root", "-tree"], env=env, capture_output=True, text=True).stdout

    try:
        icon = None
        deadline = time.monotonic() + 60
        while icon is None and time.monotonic() < deadline:
            icon = re.search(r'"livecam: anonymizing".*?(\d+)x(\d+)\+-?\d+\+-?\d+\s+\+(\d+)\+(\d+)', tree())
            time.sleep(0.5)
        assert icon, "the GTK icon docked in the panel"
        w, h, x, y = map(int, icon.groups())
        cx, cy = x + w // 2, y + h // 2
        _wait_for_color(env, tmp_path, Mode.ANONYMIZING)

        def open_menu():
            subprocess.run(["xdotool", "mousemove", str(cx), str(cy), "click", "3"], env=env, check=True)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                menu_win = re.search(r'"livecam": \("livecam" "Livecam"\)\s+(\d+)x(\d+)', tree())
                if menu_win and int(menu_win.group(1)) > 200:
                    return
                time.sleep(0.3)
            raise AssertionError(f"no menu opened on a right click at {cx},{cy}:\n{tree()}")

        open_menu()
        subprocess.run(["import", "-window", "root", str(tmp_path / "gtk-menu.png")], env=env, check=True)
        subprocess.run(["xdotool", "key", "Down", "Down", "Return"], env=env, check=True)  # Privacy screen
        _wait_for_color(env, tmp_path, Mode.PRIVACY)
        open_menu()
        subprocess.run(["xdotool", "key", *["Down"] * 9, "Return"], env=env, check=True)  # Show preview
        found = ""
        deadline = time.monotonic() + 20
        while not found and time.monotonic() < deadline:
            found = subprocess.run(["xdotool", "search", "--name", "livecam preview"], env=env,
                                   capture_output=True, text=True).stdout.strip()
            time.sleep(0.5)
        assert found, "the preview window opened"
        time.sleep(1)
        assert p.poll() is None, "the tray keeps running beside the preview window"
    except AssertionError as e:
        p.terminate()
        out, _ = p.communicate(timeout=30)
        raise type(e)(f"{e}\n--- livecam tray output ---\n{out}") from None
    finally:
        tray = subprocess.run(["pgrep", "-P", str(p.pid), "-f", "livecam tray"], capture_output=True, text=True)
        pids = [int(v) for v in tray.stdout.split()]
        for pid in pids:  # SIGTERM to livecam itself, as a desktop session would
            os.kill(pid, signal.SIGTERM)
        try:
            out, _ = p.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            out, _ = p.communicate(timeout=10)
            raise AssertionError(f"livecam tray (GTK) did not stop on SIGTERM:\n{out}")
        finally:
            try:
                os.killpg(p.pid, signal.SIGKILL)  # the session's D-Bus daemon
            except ProcessLookupError:
                pass
    assert pids and p.returncode == 0, out
    assert "Traceback" not in out and "error" not in out.lower().replace("dbus.error", ""), out
