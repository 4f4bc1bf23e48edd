"""What ``--serve`` speaks: its address, its token, the status it publishes and the commands it takes (JSON)."""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from livecam.errors import LivecamError
from livecam.controls import CONTROLS
from livecam.live.commands import Command, Status, set_values, toggle
from livecam.settings import Settings, SettingsError, from_mapping, to_mapping

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
# What the page may change: the controls it is allowed (livecam.controls), nothing that needs a restart.
TOGGLES = tuple(c.key for c in CONTROLS if c.web and c.toggle)
VALUES = tuple(c.key for c in CONTROLS if c.web and not c.toggle)


@dataclass(frozen=True)
class Address:
    host: str
    port: int

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False

    def __str__(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"


def parse_address(text: str) -> Address:
    """``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``; the host defaults to the loopback."""
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or DEFAULT_HOST
    try:
        number = int(port)
    except ValueError:
        number = -1
    if not 0 < number < 65536:
        raise LivecamError(f"--serve {text}: expected PORT or HOST:PORT with a port between 1 and 65535, "
                           "e.g. --serve 8080")
    return Address(host, number)


def token_path() -> Path:
    import platformdirs

    return Path(os.environ.get("LIVECAM_WEB_TOKEN") or Path(platformdirs.user_config_dir("livecam")) / "web-token")


def load_or_create_token(path: Path | None = None) -> str:
    """The web token: read from ``path``, or made now, stored with mode 0600 and shown once in the log."""
    path = path or token_path()
    try:
        token = path.read_text().strip()
        if token:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_urlsafe(18)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(token + "\n")
    log.warning("web token (shown once; stored in %s): %s", path, token)
    return token


def status_json(status: Status, settings: Settings) -> dict[str, Any]:
    plain = to_mapping(settings)
    return {"mode": status.mode.value, "reason": status.reason, "camera": status.camera,
            "detect_hz": round(status.detect_hz, 1), "detector_ms": round(status.detector_ms, 1),
            "detect_size": status.detect_size, "text_hz": round(status.text_hz, 1), "frames_out": status.frames_out, "outputs": dict(status.outputs),
            "settings": {k: plain[k] for k in TOGGLES + VALUES}}


def command_from_json(body: Any) -> Command:
    """``{"toggle": NAME}`` or ``{"set": {NAME: VALUE, ...}}`` for the page's settings, checked like the
    settings file (a bad name or value raises ``SettingsError`` naming it)."""
    if isinstance(body, dict) and set(body) == {"toggle"} and body["toggle"] in TOGGLES:
        return toggle(body["toggle"])
    if isinstance(body, dict) and set(body) == {"set"} and isinstance(body["set"], dict) and body["set"]:
        values = body["set"]
        bad = [k for k in values if k not in TOGGLES + VALUES]
        if bad:
            raise SettingsError(f"cannot set {', '.join(map(str, bad))} here: expected {', '.join(TOGGLES + VALUES)}")
        parsed = from_mapping(values)  # the settings file's checks: enums, types, ranges
        return set_values(**{k: getattr(parsed, k) for k in values})
    raise SettingsError('expected {"toggle": NAME} or {"set": {NAME: VALUE}} with NAME one of '
                        + ", ".join(TOGGLES + VALUES))


def _turns_anonymizing_off(body: Any) -> bool:
    return isinstance(body, dict) and (body.get("toggle") == "anonymize" or
                                       (isinstance(body.get("set"), dict) and body["set"].get("anonymize") is False))

