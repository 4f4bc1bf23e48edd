"""One validated, immutable ``Settings``; persisted as TOML in the user's config folder.

The CLI only turns arguments into overrides for ``Settings``; the tray and hotkeys write
their changes back with ``save``. Every value is checked on the way in, and an error names
the key, the value found and what is expected.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from livecam.effects import Effect, EffectParams, Region, Shape
from livecam.errors import LivecamError

log = logging.getLogger(__name__)

DEFAULT_HOTKEYS = {
    "toggle_anonymize": "<ctrl>+<alt>+<shift>+a",
    "toggle_privacy": "<ctrl>+<alt>+<shift>+p",
    "cycle_effect": "<ctrl>+<alt>+<shift>+e",
    "toggle_presenter": "<ctrl>+<alt>+<shift>+m",
}


class SettingsError(LivecamError):
    pass


_FX = EffectParams()  # the effect defaults live in one place


@dataclass(frozen=True)
class Settings:
    # what covers a face (defaults: EffectParams)
    effect: Effect = _FX.effect
    strength: float = _FX.strength
    shape: Shape = _FX.shape
    margin: float = _FX.margin
    color: tuple[int, int, int] = _FX.color  # BGR
    region: Region = _FX.region
    # how faces are found
    threshold: float = 0.2
    device: str = "auto"
    detect_size: int | None = None  # None: chosen automatically
    model: str | None = None        # None: bundled CenterFace
    small_faces_s: float = 0.5      # thorough pass (small + large faces) at least this often; 0 = off
    lookahead_s: float = 1.0        # videos: look-ahead window (livecam.hindsight); 0 = off
    # live
    camera: str | None = None       # None: the first camera that works
    size: tuple[int, int] | None = None
    fps: float | None = None
    vcam_device: str | None = None
    detect_hz: float | None = None  # None: as fast as the detector allows
    stale_ms: int = 400
    delay_s: float = 0.0            # live: frames wait this long before they are sent (look-ahead)
    # desktop state
    anonymize: bool = True
    privacy_screen: bool = False
    presenter: bool = False
    preview: bool = False           # show the output in a window (tray menu); not saved
    hotkeys: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_HOTKEYS))

    def __post_init__(self) -> None:
        try:  # strength, margin, color: checked by EffectParams
            self.effect_params()
        except ValueError as e:
            raise SettingsError(f"invalid setting: {e}") from None
        _check(0.01 <= self.threshold <= 0.99, "threshold", self.threshold, "a number between 0.01 and 0.99")
        _check(self.device in ("auto", "cpu") or self.device.startswith("cuda"), "device", self.device, "auto, cpu or cuda")
        _check(self.detect_size is None or 64 <= self.detect_size <= 4096, "detect_size", self.detect_size,
               "a width in pixels between 64 and 4096")
        _check(self.fps is None or 1 <= self.fps <= 240, "fps", self.fps, "frames per second between 1 and 240")
        _check(self.size is None or (len(self.size) == 2 and all(16 <= v <= 8192 for v in self.size)), "size",
               self.size, "WIDTHxHEIGHT, e.g. 1280x720")
        _check(self.detect_hz is None or 0.5 <= self.detect_hz <= 240, "detect_hz", self.detect_hz,
               "detections per second between 0.5 and 240")
        _check(0 <= self.small_faces_s <= 60, "small_faces_s", self.small_faces_s, "seconds between 0 (off) and 60")
        _check(0 <= self.lookahead_s <= 10, "lookahead_s", self.lookahead_s, "seconds between 0 (off) and 10")
        _check(0 <= self.delay_s <= 5, "delay_s", self.delay_s, "seconds between 0 (no delay) and 5")
        _check(50 <= self.stale_ms <= 10000, "stale_ms", self.stale_ms, "milliseconds between 50 and 10000")
        unknown = set(self.hotkeys) - set(DEFAULT_HOTKEYS)
        _check(not unknown, "hotkeys", sorted(unknown), f"only {', '.join(DEFAULT_HOTKEYS)}")

    def effect_params(self) -> EffectParams:
        return EffectParams(effect=self.effect, strength=self.strength, shape=self.shape, margin=self.margin,
                            color=self.color, region=self.region)

    def replace(self, **changes: Any) -> Settings:
        return from_mapping({**to_mapping(self), **{k: _plain(v) for k, v in changes.items()}})


def _check(ok: bool, key: str, value: Any, expected: str) -> None:
    if not ok:
        raise SettingsError(f"invalid setting {key} = {value!r}: expected {expected}")


def _plain(v: Any) -> Any:
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, tuple):
        return list(v)
    return v


_ENUMS = {"effect": Effect, "shape": Shape, "region": Region}


def parse_size(text: str) -> tuple[int, int]:
    try:
        w, h = (int(v) for v in text.lower().split("x"))
        return w, h
    except ValueError:
        raise SettingsError(f"invalid size {text!r}: expected WIDTHxHEIGHT, e.g. 1280x720") from None


def parse_color(text: str) -> tuple[int, int, int]:
    """``"#rrggbb"``, ``"r,g,b"`` or a name (black, white, grey, red, green, blue) -> BGR."""
    names = {"black": (0, 0, 0), "white": (255, 255, 255), "grey": (128, 128, 128), "gray": (128, 128, 128),
             "red": (255, 0, 0), "green": (0, 255, 0), "blue": (0, 0, 255), "magenta": (255, 0, 255)}
    t = text.strip().lower()
    try:
        if t in names:
            r, g, b = names[t]
        elif t.startswith("#") and len(t) == 7:
            r, g, b = (int(t[i:i + 2], 16) for i in (1, 3, 5))
        else:
            r, g, b = (int(v) for v in t.split(","))
        if not all(0 <= v <= 255 for v in (r, g, b)):
            raise ValueError
    except ValueError:
        raise SettingsError(f"invalid color {text!r}: expected a name (black, white, grey...), #rrggbb or r,g,b") from None
    return b, g, r


def from_mapping(data: Mapping[str, Any]) -> Settings:
    """Build ``Settings`` from plain TOML-like values, naming any bad key and what it expects."""
    fields = {f.name: f for f in dataclasses.fields(Settings)}
    kwargs: dict[str, Any] = {}
    for key, value in data.items():
        if key not in fields:
            raise SettingsError(f"unknown setting {key!r}: expected one of {', '.join(fields)}")
        if key in _ENUMS:
            try:
                value = _ENUMS[key](value)
            except ValueError:
                raise SettingsError(f"invalid setting {key} = {value!r}: expected one of "
                                    f"{', '.join(m.value for m in _ENUMS[key])}") from None
        elif key in ("size", "color"):
            if value is None and key == "size":
                kwargs[key] = None
                continue
            if isinstance(value, str):
                value = parse_size(value) if key == "size" else parse_color(value)
            elif not (isinstance(value, (list, tuple)) and all(isinstance(v, int) for v in value)):
                raise SettingsError(f"invalid setting {key} = {value!r}: expected a list of integers")
            value = tuple(value)
        elif key == "hotkeys":
            if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
                raise SettingsError(f"invalid setting hotkeys = {value!r}: expected a table of action = \"keys\"")
            value = {**DEFAULT_HOTKEYS, **value}
        elif value is not None:
            expected = {"small_faces_s": float, "lookahead_s": float, "delay_s": float, "strength": float, "margin": float, "threshold": float, "fps": float, "detect_hz": float,
                        "detect_size": int, "stale_ms": int, "anonymize": bool, "privacy_screen": bool, "preview": bool,
                        "presenter": bool, "device": str, "model": str, "camera": str, "vcam_device": str}[key]
            if expected is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if expected is str and isinstance(value, int) and key == "camera":
                value = str(value)
            if not isinstance(value, expected) or (expected is int and isinstance(value, bool)):
                raise SettingsError(f"invalid setting {key} = {value!r}: expected {expected.__name__}")
        kwargs[key] = value
    return Settings(**kwargs)


def to_mapping(s: Settings) -> dict[str, Any]:
    """Plain values (TOML-ready, ``None`` kept) for every setting."""
    out = {f.name: (dict(v) if isinstance(v := getattr(s, f.name), Mapping) else _plain(v))
           for f in dataclasses.fields(Settings)}
    b, g, r = s.color
    out["color"] = f"#{r:02x}{g:02x}{b:02x}"
    out["size"] = None if s.size is None else f"{s.size[0]}x{s.size[1]}"
    return out


def default_path() -> Path:
    env = os.environ.get("LIVECAM_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("livecam")) / "settings.toml"


# Session state: what the tray and hotkeys toggle while livecam runs. It is never saved and
# never read from the file: every start anonymizes, whatever the last session ended with.
SESSION_KEYS = ("anonymize", "privacy_screen", "presenter", "preview")


def load(path: Path | None = None, missing_ok: bool = False) -> Settings:
    """Settings from ``path`` (``--config``; default: ``LIVECAM_CONFIG`` or the user's config file).

    A missing default file gives the defaults; a ``path`` given explicitly must exist (unless
    ``missing_ok``: the tray writing its first change). Anything
    wrong in the file stops livecam with a ``SettingsError`` naming the file, the key and the
    value expected: a silently weakened protection (a user's ``solid`` at threshold 0.05 run as
    blur at 0.2) is worse than not starting. The file is never moved or changed here.
    Session keys (``anonymize``, ``privacy_screen``, ``presenter``) in the file are ignored,
    with a warning when they differ from the defaults.
    """
    explicit = path is not None
    path = Path(path) if path is not None else default_path()
    if path.is_dir():
        raise SettingsError(f"settings file {path} is a folder: point --config/LIVECAM_CONFIG at a .toml file")
    if not path.exists():
        if explicit and not missing_ok:
            raise SettingsError(f"settings file {path} not found: check the --config path, "
                                "or leave --config out to use the default settings file")
        return Settings()
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise SettingsError(f"settings file {path} is not valid TOML ({e}): fix that line or delete the file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise SettingsError(f"cannot read settings file {path}: {getattr(e, 'strerror', None) or e}") from None
    defaults = Settings()
    for key in SESSION_KEYS:
        if key in data:
            value = data.pop(key)
            if value != getattr(defaults, key):
                log.warning("settings file %s: %s = %r ignored: it is a session state (tray/hotkeys) and every "
                            "start uses %s = %r", path, key, value, key, getattr(defaults, key))
    try:
        return from_mapping(data)
    except SettingsError as e:
        raise SettingsError(f"settings file {path}: {e}; fix or remove that line") from None


def save(settings: Settings, path: Path | None = None) -> Path:
    """Write ``settings`` as TOML (``None`` values are left out, meaning "automatic")."""
    import tomli_w

    path = path or default_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {k: v for k, v in to_mapping(settings).items() if v is not None and k not in SESSION_KEYS}
    tmp = path.with_suffix(".tmp")
    tmp.write_text("# livecam settings: edit freely, livecam checks every value on start.\n" + tomli_w.dumps(data))
    os.replace(tmp, path)
    return path
