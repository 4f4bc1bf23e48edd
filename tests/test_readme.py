"""Every command in the README runs as written (#36): the ones that need no camera, no desktop and no peer on the
network are run here, in order, in a folder holding the files they name (made from the bundled demo clip); the
others are listed with the reason they are not."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

from livecam.inputs import demo_clip
from tests.helpers import make_video

ROOT = Path(__file__).resolve().parents[1]

NOT_HERE = {  # the first words of a command -> why it does not run here
    "livecam": "a camera and a virtual camera device",
    "livecam --": "a camera (the live path; its options are tested on a replayed camera in test_cli_live)",
    "livecam tray": "a camera and a desktop (tested on Xvfb in test_tray)",
    "python3 -m venv": "the install itself (CI runs it from a clean clone)",
}


def readme_commands() -> list[str]:
    """The shell lines of the README's ``sh`` blocks that call livecam (comments cut off)."""
    text = (ROOT / "README.md").read_text()
    lines = []
    for block in re.findall(r"```sh\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line.startswith(("livecam", "python3 -m venv")):
                lines.append(line)
    return lines


def why_not_here(line: str) -> str | None:
    words = shlex.split(line)
    if words == ["livecam", "--version"] or words[:2] == ["livecam", "devices"]:
        return None
    if words[0] == "livecam" and (len(words) == 1 or words[1] in ("run", "tray") or words[1].startswith("-")):
        return NOT_HERE["livecam tray" if words[1:2] == ["tray"] else "livecam --" if len(words) > 1 else "livecam"]
    if words[:3] == ["python3", "-m", "venv"]:
        return NOT_HERE["python3 -m venv"]
    return None


def _demo_frames() -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(demo_clip()))
    frames = []
    while (ok := cap.read())[0]:
        frames.append(ok[1])
    cap.release()
    return frames


def _files(folder: Path) -> None:
    """The files the README's commands name, from the demo clip (a woman on the left, a man on the right:
    "alice" is the right half alone, or face 2 of the whole picture)."""
    frames = _demo_frames()
    one = frames[0]
    alice = [np.ascontiguousarray(f[:, 240:]) for f in frames]
    cv2.imwrite(str(folder / "photo.jpg"), one)
    cv2.imwrite(str(folder / "alice-1.jpg"), alice[0])
    cv2.imwrite(str(folder / "group.jpg"), one)
    make_video(alice[:25], folder / "alice-walking.mp4", fps=12)
    make_video(frames[:20], folder / "holiday.mp4", fps=12, audio_seconds=20 / 12)
    make_video(frames[:12], folder / "talk.mp4", fps=12)
    make_video(frames[:12], folder / "more.mov", fps=12)
    for sub in ("footage", "archive"):
        (folder / sub).mkdir()
        cv2.imwrite(str(folder / sub / "a.jpg"), frames[30])


def test_the_readme_names_what_each_command_needs():
    lines = readme_commands()
    assert len(lines) >= 20 and any(line.startswith("livecam anonymize") for line in lines)
    assert why_not_here("livecam --keep alice,bob") and why_not_here("livecam tray") and why_not_here("livecam")
    assert why_not_here("livecam anonymize photo.jpg -o x.jpg") is None


def test_every_readme_command_that_needs_no_camera_runs_as_written(tmp_path):
    work = tmp_path / "work"
    work.mkdir()
    _files(work)
    env = {**os.environ, "LIVECAM_CONFIG": str(tmp_path / "config" / "settings.toml")}
    bin_dir = Path(sys.executable).parent
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"  # `livecam` as installed by the set-up command
    ran, skipped = [], []
    for line in readme_commands():
        if (why := why_not_here(line)) is not None:
            skipped.append(f"{line}: needs {why}")
            continue
        r = subprocess.run(shlex.split(line), cwd=work, env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, f"README command failed: {line}\n{r.stderr[-2000:]}"
        ran.append(line)
    print(f"ran {len(ran)} README commands; not here: {len(skipped)}")
    assert len(ran) >= 14
    # what they made is there and whole
    assert (work / "holiday-anon.mp4").is_file() and (work / "photo-anon.jpg").is_file()
    assert (work / "anonymized" / "footage" / "a.jpg").is_file() or (work / "anonymized" / "a.jpg").is_file()
    assert (work / "released" / "a.jpg").is_file() or any((work / "released").rglob("a.jpg"))
    assert (work / "audit.jsonl").is_file() and (work / "talk-boxes.json").is_file() and (work / "faces.png").is_file()
