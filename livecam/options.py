"""The command line's options: ``build_parser`` and ``settings_from_args`` (the only place arguments become
``Settings``). ``livecam.cli`` runs the commands."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NoReturn

from livecam import settings as settings_mod
from livecam.effects import Effect, Region, Shape


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, not usage + error
        self.exit(2, f"livecam: error: {message} (see `{self.prog} --help`)\n")


def _positive_int(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if v <= 0:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return v


def _chunk_seconds(text: str) -> float:
    v = _float(text)
    if v != 0 and not 1 <= v <= 24 * 3600:
        raise argparse.ArgumentTypeError(f"expected 0 (never split) or 1 to 86400 seconds, got {text}")
    return v


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _float_list(text: str) -> list[float]:
    return [_float(t) for t in text.split(",") if t.strip()]


def _add_effect_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("anonymization")
    g.add_argument("--effect", choices=[e.value for e in Effect], help="how faces are hidden (default: blur)")
    g.add_argument("--strength", type=_float, help="blur/pixel coarseness, 0.5..4 (default 1)")
    g.add_argument("--shape", choices=[s.value for s in Shape], help="mask shape (default: ellipse)")
    g.add_argument("--margin", type=_float, help="grow each face box by this share on every side (default 0.2: the head)")
    g.add_argument("--color", help="solid colour: name, #rrggbb or r,g,b (default black)")
    g.add_argument("--region", choices=[r.value for r in Region], help="face = whole face, eyes = upper face only")
    g.add_argument("--threshold", type=_float, help="detector confidence threshold (default 0.2: lower covers more)")
    g.add_argument("--device", help="auto (CUDA if available, else the fastest CPU backend that is as accurate as "
                   "PyTorch), cpu (PyTorch), onnxruntime (int8 on the CPU) or cuda (default auto)")
    g.add_argument("--detect-size", type=_positive_int, dest="detect_size",
                   help="detector input width in pixels (default: automatic)")
    g.add_argument("--model", help="a YOLO face model in ONNX (default: bundled CenterFace)")
    g.add_argument("--small-faces-every", type=_float, dest="small_faces_s", metavar="SECONDS",
                   help="run the thorough pass for small (~10 px) and large faces this often; 0 = off (default 0.5)")
    g.add_argument("--lookahead", type=_float, dest="lookahead_s", metavar="SECONDS",
                   help="videos: hold frames this long so faces are covered from the first frame they are in; "
                        "0 = off (default 1)")
    g.add_argument("--bridge-gaps", action="store_true", default=None, dest="bridge_gaps",
                   help="with a look-ahead: cover a face the detector misses between two detections on the line "
                        "between them instead of a growing box (less background masked; see README)")
    g.add_argument("--keep", metavar="NAME[,NAME]", help="leave these enrolled people's faces visible (livecam "
                   "people add), cover everyone else; a face is revealed only after several identity checks")
    g.add_argument("--cover", metavar="faces[,plates|text]", help="also cover licence plates (plates) or every text "
                   "region (text), e.g. faces,plates (default faces)")
    g.add_argument("--config", type=Path, help="settings file (default: the one in your config folder)")


def _add_delay_option(g: Any) -> None:
    g.add_argument("--delay", type=_float, dest="delay_s", metavar="SECONDS",
                   help="live: hold frames this long before sending them, so faces are covered from their first "
                        "frame and cuts are not blacked out (default 0: no delay)")


def _add_live_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("camera")
    g.add_argument("--camera", help="camera index or path/URL (default: the first camera that works)")
    g.add_argument("--size", help="capture size WIDTHxHEIGHT (default: the camera's)")
    g.add_argument("--fps", type=_float, help="capture frame rate (default: the camera's)")
    g.add_argument("--vcam-device", dest="vcam_device", help="virtual camera device, e.g. /dev/video10")
    g.add_argument("--no-vcam", action="store_true", help="do not open a virtual camera (use with --preview/--output)")
    g.add_argument("--preview", action="store_true", help="also show the output in a window")
    g.add_argument("--output", type=Path, help="also record the output to this video file (never replaces a file "
                                                "unless --overwrite)")
    g.add_argument("--overwrite", action="store_true", help="replace the --output file if it exists")
    g.add_argument("--serve", metavar="[HOST:]PORT",
                   help="also serve the output on a web page and as MJPEG (http://127.0.0.1:PORT/; for OBS "
                        "Browser/Media Source); another HOST than the loopback needs the web token")
    g.add_argument("--push", metavar="URL", help="also push the output as H.264 to srt://HOST:PORT (needs ffmpeg "
                                                 "with SRT) or rtmp://HOST/APP/KEY; reconnects by itself")
    g.add_argument("--detect-hz", type=_float, dest="detect_hz", help="detections per second (default: automatic)")
    _add_delay_option(g)
    g.add_argument("--stale-ms", type=_positive_int, dest="stale_ms",
                   help="obscure the whole frame when the newest detection is older than this (default 400)")


def _add_global_options(p: argparse.ArgumentParser, default: Any) -> None:
    """--debug and -q, before the command or after it (a subcommand's own copy keeps the value given
    before it unless given again)."""
    p.add_argument("--debug", action="store_true", default=default, help="verbose logs and full tracebacks")
    p.add_argument("-q", "--quiet", action="store_true", default=default, help="only errors")


def build_parser() -> argparse.ArgumentParser:
    from livecam import __version__

    p = _Parser(prog="livecam", description="Real-time face anonymizer: webcam in, anonymized virtual camera out.")
    p.add_argument("--version", action="version", version=f"livecam {__version__}")
    _add_global_options(p, False)
    common = _Parser(add_help=False)
    _add_global_options(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", parser_class=_Parser)

    def command(name: str, **kw: Any) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kw)

    run = command("run", help="camera in, anonymized virtual camera out (the default command)")
    _add_effect_options(run)
    _add_live_options(run)

    _add_anonymize(command("anonymize", help="anonymize photos, videos or folders of them"))
    _add_people(command("people", help="enrol the people --keep leaves visible (face descriptors only, no pictures)"))
    command("devices", help="list cameras and virtual camera devices")

    _add_eval(command("eval", help="measure coverage against labelled faces (boxes.json / tracks.json)"))
    _add_bench(command("bench", help="latency/throughput of the live path on a replayed clip"))
    tr = command("tray", help="run with a system tray icon and global hotkeys")
    _add_effect_options(tr)
    _add_live_options(tr)
    return p


def _add_anonymize(an: argparse.ArgumentParser) -> None:
    """``livecam anonymize``: files and folders."""
    an.add_argument("inputs", nargs="+", type=Path, metavar="INPUT", help="photo, video or folder")
    # a string, not a Path: Path("out/") drops the trailing slash that says "a folder"
    an.add_argument("-o", "--output", required=True, help="output file (one input) or folder (a name ending in /)")
    an.add_argument("--overwrite", action="store_true", help="replace output files that already exist")
    an.add_argument("--jobs", type=_positive_int, metavar="N",
                    help="files at once, each in its own process with its own model (default: one per core, at most 8)")
    an.add_argument("--ray", metavar="ADDRESS", help="run the files on a Ray cluster: its address, auto (the one "
                    "`ray start` made here) or local (pip install -e \".[ray]\"; paths must be shared)")
    an.add_argument("--chunk", type=_chunk_seconds, default=60.0, metavar="SECONDS",
                    help="with several workers, a video at least twice this long is split into parts of this "
                    "length or more, done in parallel and joined (default 60; 0: never split)")
    an.add_argument("--audit", type=Path, metavar="FILE", help="append one JSON line per input (model, settings, "
                    "faces per frame, tracks, time) and a summary line to FILE")
    an.add_argument("--export-boxes", type=Path, dest="export_boxes", metavar="FILE",
                    help="also write every covered box per frame to FILE (JSON), for review")
    an.add_argument("--boxes", type=Path, metavar="FILE", help="render exactly the boxes in FILE (from "
                    "--export-boxes, possibly edited) instead of detecting")
    an.add_argument("--reveal", metavar="NAME", help="a subject access request: only this enrolled person's face "
                    "stays visible (like --keep NAME, for one person)")
    _add_effect_options(an)


def _add_people(pe: argparse.ArgumentParser) -> None:
    """``livecam people add|list|remove``."""
    pe_sub = pe.add_subparsers(dest="people_command", parser_class=_Parser, required=True)
    add = pe_sub.add_parser("add", help="enrol NAME from photos of them alone and/or videos of them alone")
    add.add_argument("name", metavar="NAME")
    add.add_argument("inputs", nargs="+", type=Path, metavar="PHOTO_OR_VIDEO")
    add.add_argument("--face", type=_positive_int, metavar="N", help="in a photo of several people, enrol face N "
                     "(numbered from the left; default: the only face, or the largest when it stands out)")
    add.add_argument("--faces-preview", type=Path, dest="faces_preview", metavar="FILE",
                     help="write the photo with its faces numbered to FILE (a new .png/.jpg) and enrol nobody")
    pe_sub.add_parser("list", help="the enrolled people")
    rm = pe_sub.add_parser("remove", help="forget NAME")
    rm.add_argument("name", metavar="NAME")


def _add_eval(ev: argparse.ArgumentParser) -> None:
    """``livecam eval``: coverage against labelled faces."""
    ev.add_argument("data", type=Path, metavar="DATA", help="folder with boxes.json or tracks.json")
    ev.add_argument("--live-hz", type=_float, dest="live_hz", help="clips: detect at this rate, as the live path does")
    ev.add_argument("--sweep", type=_float_list, metavar="T1,T2,...",
                    help="one row per detector threshold, e.g. 0.1,0.15,0.2: coverage against over-masking")
    ev.add_argument("--pan", action="store_true",
                    help="moving-camera test: a window pans across the photos of DATA; file mode and the live path")
    ev.add_argument("--pan-window", dest="pan_window", default="640x360", help="pan window WIDTHxHEIGHT (default 640x360)")
    ev.add_argument("--pan-speed", dest="pan_speed", type=_positive_int, default=8, help="pixels per frame (default 8)")
    ev.add_argument("--pan-images", dest="pan_images", type=_positive_int, default=20,
                    help="photos to pan across (default 20)")
    ev.add_argument("--pan-fps", dest="pan_fps", type=_float, default=30.0, help="frame rate (default 30)")
    ev.add_argument("--pan-crowd", dest="pan_crowd", type=_positive_int, metavar="N", default=0,
                    help="pan only across photos with at least N labelled faces (a crowd; e.g. 25)")
    ev.add_argument("--plates", action="store_true", help="licence plates in DATA's car photos (boxes.json): found by "
                    "distance and covered on a moving camera, with --cover's plates or text")
    ev.add_argument("--people", action="store_true",
                    help="--keep test: enrol each person of DATA's clips, build crossings and closer bystanders")
    ev.add_argument("--pan-only", dest="pan_only", choices=["file", "live"], help="run only one of the two paths")
    _add_delay_option(ev)
    _add_effect_options(ev)


def _add_bench(be: argparse.ArgumentParser) -> None:
    """``livecam bench``: the live path on a replayed clip."""
    be.add_argument("clip", type=Path, nargs="?", help="video to replay (default: ../shared street clip)")
    be.add_argument("--size", default="1280x720", help="replay size (default 1280x720)")
    be.add_argument("--fps", type=_float, default=30.0)
    be.add_argument("--seconds", type=_float, default=20.0)
    be.add_argument("--load", metavar="KIND", help="run a competing load meanwhile: x264 (a 1080p30 veryfast encode, "
                    "as OBS) or cpu:N (N busy processes)")
    be.add_argument("--faces", action="store_true", dest="judge_faces",
                    help="also count faces left bare, against the detector run offline at full size")
    be.add_argument("--viewers", type=_positive_int, default=0,
                    help="also serve the output (--serve) to this many MJPEG viewers on loopback (and one more that "
                         "connects and never reads)")
    be.add_argument("--detector", action="store_true", help="instead: time every detector backend here (416/640/1280 "
                    "px, 1 and 2 threads) side by side")
    be.add_argument("--recall", type=Path, metavar="DATA", help="with --detector: each backend's coverage of "
                    "these photos (livecam eval)")
    be.add_argument("--webrtc-viewers", type=_positive_int, default=0, dest="webrtc_viewers",
                    help="... and to this many WebRTC viewers (aiortc clients) on loopback")
    _add_delay_option(be)
    _add_effect_options(be)


def settings_from_args(args: argparse.Namespace) -> settings_mod.Settings:
    """The settings file (or defaults), overridden by whatever options were given on the command line."""
    base = settings_mod.load(getattr(args, "config", None))
    overrides: dict[str, Any] = {}
    for key in settings_mod.OPTION_KEYS:
        value = getattr(args, key, None)
        if value is None:
            continue
        overrides[key] = value  # strings for size and color are parsed by Settings
    return base.replace(**overrides) if overrides else base
