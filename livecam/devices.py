"""``livecam devices``: which cameras can be opened, at which sizes, and is there a virtual camera."""

from __future__ import annotations

import glob
import logging
import sys
from pathlib import Path


from livecam.errors import CameraBusy, DeviceError

log = logging.getLogger(__name__)

COMMON_SIZES = ((640, 480), (1280, 720), (1920, 1080))


def list_cameras(max_index: int = 8) -> list[str]:
    """One line per camera that opens and sends a frame."""
    from livecam.inputs import CameraSource

    lines = []
    for i in range(max_index):
        try:
            cam = CameraSource(str(i))
        except CameraBusy:
            lines.append(f"  camera {i}: busy (another app is using it)")
            continue
        except DeviceError:
            continue
        native = f"{cam.width}x{cam.height} @ {cam.fps:g} fps"
        cam.close()
        ok = []
        for w, h in COMMON_SIZES:
            try:
                c = CameraSource(str(i), (w, h))
                ok.append(f"{w}x{h}@{c.fps:g}")
                c.close()
            except DeviceError:
                pass
        lines.append(f"  camera {i} (--camera {i}): {native}; accepts {', '.join(ok) or 'only its default size'}")
    return lines


def loopback_devices() -> list[str]:
    """Linux: v4l2loopback devices from sysfs, as '/dev/videoN (card name)'."""
    out = []
    for name_file in sorted(glob.glob("/sys/devices/virtual/video4linux/video*/name")):
        dev = "/dev/" + Path(name_file).parent.name
        out.append(f"{dev} ({Path(name_file).read_text().strip()})")
    return out


def report() -> str:
    from livecam.outputs.vcam import vcam_help

    cams = list_cameras()
    lines = ["cameras:"] + (cams or ["  none found (tried indices 0-7)"])
    lines.append("virtual camera:")
    if sys.platform.startswith("linux"):
        loops = loopback_devices()
        if loops:
            lines += [f"  {d}: v4l2loopback (--vcam-device {d.split()[0]})" for d in loops]
        else:
            lines.append(f"  none: {vcam_help()}")
    else:
        import pyvirtualcam

        try:
            with pyvirtualcam.Camera(640, 480, 30) as cam:
                lines.append(f"  {cam.device} ({cam.backend})")
        except Exception as e:  # every backend failed: show why, with the fix
            lines.append(f"  none: {vcam_help()} ({' / '.join(str(e).splitlines())})")
    lines += ["face detector (--device auto):"] + [f"  {line}" for line in detector_backend().splitlines()]
    return "\n".join(lines)


def detector_backend() -> str:
    """What ``--device auto`` runs the face detector on here (without loading it: torch takes seconds)."""
    import importlib.util
    import shutil

    if shutil.which("nvidia-smi") and importlib.util.find_spec("torch") is not None:
        import torch

        if torch.cuda.is_available():
            return f"PyTorch fp16 on CUDA ({torch.cuda.get_device_name(0)})"
    from livecam.detectors.backends.choice import describe

    return describe()
