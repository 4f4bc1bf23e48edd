"""Command line: only turns arguments into Settings and calls the library.

Every ``LivecamError`` (and any unexpected error) becomes one line on stderr and a non-zero
exit code; tracebacks only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
from typing import Any, Callable, Sequence

from livecam import settings as settings_mod
from livecam.errors import LivecamError
from livecam.options import build_parser, settings_from_args

log = logging.getLogger("livecam")


def _setup_logging(args: argparse.Namespace) -> None:
    level = logging.DEBUG if args.debug else logging.ERROR if args.quiet else logging.INFO
    logging.basicConfig(level=level, format="livecam: %(message)s", stream=sys.stderr)
    for noisy in ("PIL", "matplotlib"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    # `livecam` alone, or with only options, means `livecam run`
    first = next((a for a in argv if not a.startswith("-")), None)
    if first not in COMMANDS and not any(a in ("-h", "--help", "--version") for a in argv[:1]):
        argv = [a for a in argv if a in ("--debug", "-q", "--quiet")] + ["run"] + \
               [a for a in argv if a not in ("--debug", "-q", "--quiet")]
    args = build_parser().parse_args(argv)
    _setup_logging(args)
    old_term = signal.signal(signal.SIGTERM, _terminate)
    try:
        return _dispatch(args)
    except Terminated:
        print("livecam: stopped by SIGTERM (unfinished output files were removed)", file=sys.stderr)
        return 128 + signal.SIGTERM
    except KeyboardInterrupt:
        print("livecam: interrupted (unfinished output files were removed)", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which stopped reading: not an error
        sys.stderr.close()
        return 0
    except LivecamError as e:
        if args.debug:
            log.exception("error")
        print(f"livecam: error: {e}", file=sys.stderr)
        return e.exit_code
    except Exception as e:  # last resort: never a traceback for users, but say what happened
        if args.debug:
            log.exception("unexpected error")
        print(f"livecam: error: unexpected {type(e).__name__}: {e} (run with --debug for details)", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, old_term)


class Terminated(KeyboardInterrupt):
    """SIGTERM (e.g. `timeout`, `kill`, a service manager): stop like Ctrl+C, cleaning up on the way out."""


def _terminate(signum: int, frame: Any) -> None:
    raise Terminated()


def _anonymize(args: argparse.Namespace) -> int:
    from livecam import anonymize, batch
    from livecam.engine import make_anonymizer, make_keep

    s = settings_from_args(args)
    option = "--keep"
    if args.reveal is not None:
        if s.keep and args.keep:
            raise LivecamError("--reveal and --keep: use one (--reveal NAME leaves only NAME visible)")
        s, option = s.replace(keep=[args.reveal.strip()]), "--reveal"
    # --overwrite redoes everything: nothing is checked for resuming
    identity = batch.Identity.of(s, args.boxes)
    jobs = anonymize.plan(args.inputs, args.output, overwrite=args.overwrite,
                          is_done=None if args.overwrite else identity)
    if args.boxes is not None and s.keep:
        raise LivecamError("--boxes renders the boxes given, nobody is recognised: leave out --keep/--reveal")
    n = args.jobs or batch.default_jobs()
    opts = batch.BatchOptions(jobs=n, audit=args.audit, export_boxes=args.export_boxes, boxes=args.boxes,
                              progress=not args.quiet, option=option, ray=args.ray, chunk_s=args.chunk)
    batch.check_files(jobs, opts, args.overwrite)
    local = args.ray is None and n == 1  # else workers load it (a single long video is split)
    engine = make_anonymizer(s, keep=make_keep(s, option)) if local else None
    records = batch.run(jobs, s, opts, engine=engine, identity=identity)
    faces = sum(sum(r.faces_per_frame) for r in records)
    log.info("done: %d file(s) written to %s, %d face boxes covered", sum(r.status == "done" for r in records),
             args.output, faces)
    return 0


def _live(args: argparse.Namespace) -> int:
    """``livecam run`` and ``livecam tray``."""
    from livecam import live
    from livecam.outputs import Outputs
    from livecam.serve import parse_address

    s = settings_from_args(args)
    outputs = Outputs(vcam=not args.no_vcam, preview=args.preview, record=args.output, overwrite=args.overwrite,
                      serve=parse_address(args.serve) if args.serve else None, push=args.push,
                      vcam_device=s.vcam_device)
    if args.command == "tray":
        from livecam.tray.lifecycle import run_tray

        return run_tray(s, outputs, args.config)
    return live.run_cli(s, outputs)


def _people(args: argparse.Namespace) -> int:
    from livecam.people import cli as peoplecmd

    return peoplecmd.run_cli(args.people_command, getattr(args, "name", None), getattr(args, "inputs", []),
                             lambda: settings_from_args(args), getattr(args, "face", None),
                             getattr(args, "faces_preview", None))


def _devices(args: argparse.Namespace) -> int:
    from livecam import devices

    print(devices.report())
    return 0


def _eval(args: argparse.Namespace) -> int:
    from livecam.harness import evaluate

    s = settings_from_args(args)
    if args.people:
        from livecam.harness import peopleeval

        print(peopleeval.run_cli(s, args.data))
        return 0
    if args.plates:
        from livecam.harness import plateeval

        print(plateeval.run_cli(s, args.data, args.pan_images, args.pan_speed, args.pan_fps))
        return 0
    if args.pan:
        from livecam.harness import paneval

        modes = (args.pan_only,) if args.pan_only else ("file", "live")
        print(paneval.run_cli(s, args.data, settings_mod.parse_size(args.pan_window), args.pan_speed,
                              args.pan_images, args.pan_fps, modes, args.pan_crowd))
        return 0
    print(evaluate.run_cli(s, args.data, live_hz=args.live_hz, sweep=args.sweep))
    return 0


def _bench(args: argparse.Namespace) -> int:
    from livecam.harness import bench

    s = settings_from_args(args)
    if args.detector:
        from livecam.harness import detbench

        print(detbench.run_cli(s, args.recall))
        return 0
    print(bench.run_cli(s, args.clip, args.size, args.fps, args.seconds, load=args.load,
                        judge_faces=args.judge_faces, viewers=args.viewers, webrtc_viewers=args.webrtc_viewers))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {  # what each subcommand runs
    "anonymize": _anonymize, "run": _live, "tray": _live, "people": _people, "devices": _devices, "eval": _eval,
    "bench": _bench}


def _dispatch(args: argparse.Namespace) -> int:
    if args.command not in COMMANDS:
        raise LivecamError(f"unknown command {args.command!r}")
    return COMMANDS[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
