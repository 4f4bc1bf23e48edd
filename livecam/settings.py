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
from typing import Any, Callable, Mapping

from livecam import controls
from livecam.effects import Effect, EffectParams, Region, Shape
from livecam.errors import LivecamError
from livecam.text import COVER_EXPECTED, Cover, parse_cover

log = logging.getLogger(__name__)

DEFAULT_HOTKEYS = controls.DEFAULT_HOTKEYS  # the actions and their keys: livecam.controls


class SettingsError(LivecamError):
    pass


# pynput's special keys (``<name>``; any single character is a key too, and ``<N>`` a virtual key code)
_KEY_NAMES = frozenset("""alt alt_l alt_r alt_gr backspace caps_lock cmd cmd_l cmd_r ctrl ctrl_l ctrl_r delete down end
enter esc home left page_down page_up right shift shift_l shift_r space tab up insert menu num_lock pause print_screen
scroll_lock media_play_pause media_volume_mute media_volume_down media_volume_up media_previous media_next""".split()
                       + [f"f{i}" for i in range(1, 21)])


def check_hotkeys(bindings: Mapping[str, str]) -> None:
    """Every binding parses as pynput reads it (``<ctrl>+<alt>+p``), and no two actions share keys. The privacy
    key is a panic button: a binding that would be off, or would do another action, stops start-up
    (``SettingsError``, naming the action, or both). Checked here, without pynput (which needs a display)."""
    seen: dict[frozenset[str], str] = {}
    for action, keys in bindings.items():
        parts = keys.split("+") if keys else []
        bad = [k for k in parts if not (len(k) == 1 or (k.startswith("<") and k.endswith(">") and
                                                         (k[1:-1] in _KEY_NAMES or k[1:-1].isdigit())))]
        if not parts or bad or len(set(parts)) != len(parts):
            why = f"unknown key {bad[0]!r}" if bad else "a key given twice" if parts else "no keys"
            raise SettingsError(f"invalid setting hotkeys.{action} = {keys!r}: {why}; expected keys joined by +, "
                                "e.g. \"<ctrl>+<alt>+<shift>+p\" (special keys: <ctrl>, <alt>, <shift>, <cmd>, "
                                "<f1>..<f20>, ...)")
        combo = frozenset(k.lower() for k in parts)
        if combo in seen:
            raise SettingsError(f"invalid setting hotkeys: {seen[combo]} and {action} are both {keys!r}; give "
                                "each action its own keys")
        seen[combo] = action


_FX = EffectParams()  # the effect defaults live in one place


class Scope(enum.Enum):
    """When a setting may change, and whether it is saved."""

    LIVE = "live"          # a running pipeline applies a change from its next frame; saved
    RESTART = "restart"    # picks a device, model or size when livecam starts: a running pipeline refuses it; saved
    SESSION = "session"    # toggled while livecam runs (tray, hotkeys); never saved, never read from the file


def _setting(default: Any = None, kind: type | None = None, *, scope: Scope = Scope.LIVE, option: bool = True,
             valid: Callable[[Any], bool] | None = None, expected: str = "",
             shown: Callable[[Any], Any] = lambda v: v, factory: Callable[[], Any] | None = None) -> Any:
    """A ``Settings`` field, declared once: its type in the settings file (``kind``; ``None``: parsed
    by ``from_mapping``'s special cases), its ``scope``, whether a command-line option sets it
    (``option``), and its check
    (``valid(value)``; an error shows ``shown(value)`` and the ``expected`` text)."""
    meta = {"kind": kind, "scope": scope, "option": option and scope is not Scope.SESSION,
            "valid": valid, "expected": expected, "shown": shown}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


DEVICES_EXPECTED = "auto, cpu, cuda or onnxruntime"


def is_device(value: str) -> bool:
    """A ``--device`` value: ``auto``, ``cpu`` (PyTorch), ``onnxruntime`` (the int8 model on the CPU), ``cuda`` or
    ``cuda:N`` (checked here, resolved by the detectors)."""
    return value in ("auto", "cpu", "onnxruntime") or value.startswith("cuda")


def _between(lo: float, hi: float, optional: bool = False) -> Callable[[Any], bool]:
    return lambda v: (optional and v is None) or (v is not None and lo <= v <= hi)


@dataclass(frozen=True)
class Settings:
    # what covers a face (defaults and checks: EffectParams)
    effect: Effect = _setting(_FX.effect)
    strength: float = _setting(_FX.strength, float)
    shape: Shape = _setting(_FX.shape)
    margin: float = _setting(_FX.margin, float)
    color: tuple[int, int, int] = _setting(_FX.color)  # BGR
    region: Region = _setting(_FX.region)
    # how faces are found
    threshold: float = _setting(0.2, float, valid=_between(0.01, 0.99), expected="a number between 0.01 and 0.99")
    device: str = _setting("auto", str, scope=Scope.RESTART, expected=DEVICES_EXPECTED, valid=is_device)
    detect_size: int | None = _setting(None, int, scope=Scope.RESTART, valid=_between(64, 4096, optional=True),
                                       expected="a width in pixels between 64 and 4096")  # None: automatic
    model: str | None = _setting(None, str, scope=Scope.RESTART)  # None: bundled CenterFace
    small_faces_s: float = _setting(0.5, float, scope=Scope.RESTART, valid=_between(0, 60),
                                    expected="seconds between 0 (off) and 60")  # thorough pass at least this often
    lookahead_s: float = _setting(1.0, float, valid=_between(0, 10),
                                  expected="seconds between 0 (off) and 10")  # videos: look-ahead window
    bridge_gaps: bool = _setting(False, bool)
    """With a look-ahead (``lookahead_s``, ``delay_s``): a face missed by the detector between two of its
    detections is covered on the line between them, not by a box growing since the first (less background
    masked; a face next to it that no detection found is no longer covered by chance)."""
    # live
    camera: str | None = _setting(None, str, scope=Scope.RESTART)  # None: the first camera that works
    size: tuple[int, int] | None = _setting(
        None, scope=Scope.RESTART, expected="WIDTHxHEIGHT, e.g. 1280x720",
        valid=lambda v: v is None or (len(v) == 2 and all(16 <= x <= 8192 for x in v)))
    fps: float | None = _setting(None, float, scope=Scope.RESTART, valid=_between(1, 240, optional=True),
                                 expected="frames per second between 1 and 240")
    vcam_device: str | None = _setting(None, str, scope=Scope.RESTART)
    detect_hz: float | None = _setting(None, float, scope=Scope.RESTART, valid=_between(0.5, 240, optional=True),
                                       expected="detections per second between 0.5 and 240")  # None: as fast as it can
    stale_ms: int = _setting(400, int, valid=_between(50, 10000), expected="milliseconds between 50 and 10000")
    delay_s: float = _setting(0.0, float, valid=_between(0, 5),
                              expected="seconds between 0 (no delay) and 5")  # live: frames wait this long (look-ahead)
    keep: tuple[str, ...] = _setting((), expected="names enrolled with `livecam people add`",
                                     valid=lambda v: all(isinstance(n, str) and n and "," not in n for n in v))
    """Faces recognised as these enrolled people stay visible; everyone else is covered (empty: nobody)."""
    cover: tuple[Cover, ...] = _setting((Cover.FACES,), expected=COVER_EXPECTED + ", faces included",
                                        shown=lambda v: ",".join(c.value for c in v), valid=lambda v: Cover.FACES in v)
    """What is covered besides faces (faces always are): licence plates, every text region (``livecam.text``); live,
    a change loads the text model in the text thread, frames wholly obscured until its first check."""
    # desktop state
    anonymize: bool = _setting(True, bool, scope=Scope.SESSION)
    privacy_screen: bool = _setting(False, bool, scope=Scope.SESSION)
    presenter: bool = _setting(False, bool, scope=Scope.SESSION)
    preview: bool = _setting(False, bool, scope=Scope.SESSION)  # show the output in a window (tray menu)
    hotkeys: Mapping[str, str] = _setting(scope=Scope.RESTART, option=False, factory=lambda: dict(DEFAULT_HOTKEYS),
                                          valid=lambda v: not set(v) - set(DEFAULT_HOTKEYS),
                                          shown=lambda v: sorted(set(v) - set(DEFAULT_HOTKEYS)),
                                          expected=f"only {', '.join(DEFAULT_HOTKEYS)}")

    def __post_init__(self) -> None:
        try:  # strength, margin, color: checked by EffectParams
            self.effect_params()
        except ValueError as e:
            raise SettingsError(f"invalid setting: {e}") from None
        for f in dataclasses.fields(self):
            valid = f.metadata["valid"]
            value = getattr(self, f.name)
            if valid is not None and not valid(value):
                raise SettingsError(f"invalid setting {f.name} = {f.metadata['shown'](value)!r}: "
                                    f"expected {f.metadata['expected']}")

    def effect_params(self) -> EffectParams:
        return EffectParams(effect=self.effect, strength=self.strength, shape=self.shape, margin=self.margin,
                            color=self.color, region=self.region)

    def replace(self, **changes: Any) -> Settings:
        return from_mapping({**to_mapping(self), **{k: controls.plain(v) for k, v in changes.items()}})


def keys(scope: Scope | None = None, *, option: bool | None = None) -> tuple[str, ...]:
    """Names of the settings declared with this ``scope`` / ``option`` (each: any when None)."""
    return tuple(f.name for f in dataclasses.fields(Settings)
                 if (scope is None or f.metadata["scope"] is scope)
                 and (option is None or f.metadata["option"] == option))


# Session state: what the tray and hotkeys toggle while livecam runs. It is never saved and
# never read from the file: every start anonymizes, whatever the last session ended with.
SESSION_KEYS = keys(Scope.SESSION)
# Settings a running pipeline cannot change (they pick devices, models or sizes when it starts);
# a command changing one is refused with a warning. Everything else applies from the next frame.
RESTART_KEYS = keys(Scope.RESTART)
OPTION_KEYS = keys(option=True)  # set by a command-line option of the same name
# changed from the tray's menu (livecam.controls) and saved by it: the controls that are not session state
TRAY_KEYS = tuple(c.key for c in controls.CONTROLS if c.key not in SESSION_KEYS)


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
        elif key == "keep":
            if isinstance(value, str):
                value = [n.strip() for n in value.split(",") if n.strip()]
            if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
                raise SettingsError(f"invalid setting keep = {value!r}: expected a list of names")
            value = tuple(value)
        elif key == "cover":
            try:
                value = parse_cover(value if isinstance(value, str) else [str(v) for v in value])
            except (ValueError, TypeError) as e:
                raise SettingsError(f"invalid setting cover = {value!r}: {e}") from None
        elif key == "hotkeys":
            if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
                raise SettingsError(f"invalid setting hotkeys = {value!r}: expected a table of action = \"keys\"")
            value = {**DEFAULT_HOTKEYS, **value}
            check_hotkeys(value)
        elif value is not None:
            expected = fields[key].metadata["kind"]
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
    out = {f.name: (dict(v) if isinstance(v := getattr(s, f.name), Mapping) else controls.plain(v))
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


def cache_dir() -> Path:
    """Where livecam keeps what it derives once per machine (converted weights, the precision choice, locks)."""
    env = os.environ.get("LIVECAM_CACHE_DIR")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_cache_dir("livecam"))


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
