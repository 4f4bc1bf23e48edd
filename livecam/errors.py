"""Errors that the CLI turns into a one-line message and an exit code."""


class LivecamError(Exception):
    """A problem the user can fix; the message names it and says how."""

    exit_code = 2


class ModelError(LivecamError):
    """The face model is missing, unreadable or not what we expected."""

    exit_code = 3


class DeviceError(LivecamError):
    """A camera or virtual camera could not be opened or used."""

    exit_code = 4


class CameraBusy(DeviceError):
    """The camera exists but another program holds it (or it is not a capture device)."""


class CameraModeUnsupported(DeviceError):
    """The camera does not offer the size or frame rate asked for."""
