#!/usr/bin/env bash
# Installs everything the test suite needs into .venv (and, on Debian/Ubuntu as root, the
# virtual-desktop tools the tray tests use), then runs the tests. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
# Desktop tests (tray icon and menu, global hotkeys) need an X server, a tray host, xdotool, a D-Bus
# session, and the headers PyGObject (the GTK tray menu) builds against.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    missing=""
    for tool in Xvfb xdotool trayer import dbus-run-session dbus-launch; do
        command -v "$tool" >/dev/null 2>&1 || missing=1
    done
    pkg-config --exists gobject-introspection-1.0 cairo 2>/dev/null || missing=1
    if [ -n "$missing" ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            xvfb xdotool trayer imagemagick x11-utils dbus dbus-x11 \
            libcairo2-dev libgirepository1.0-dev gir1.2-gtk-3.0 pkg-config >/dev/null) \
            || echo "note: could not install the desktop test tools; those tests will be skipped"
    fi
fi

# The --serve tests load the page in a real browser (Debian's chromium, driven through chromium-driver);
# the network-camera tests send SRT with Debian's ffmpeg (built with libsrt; livecam's own FFmpeg has none).
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1 \
            || ! command -v ffmpeg >/dev/null 2>&1; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
            chromium chromium-driver ffmpeg >/dev/null) \
            || echo "note: could not install chromium/ffmpeg; the browser and SRT tests will be skipped"
    fi
fi

# ray: `anonymize --ray` is tested on a real two-node cluster (tests/test_ray.py)
extras="test,ray"
if pkg-config --exists gobject-introspection-1.0 cairo 2>/dev/null; then
    extras="test,ray,menu"  # the GTK tray menu, as the README sets it up on Linux
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[$extras]"

# Types first (settings in pyproject.toml [tool.mypy]): seconds, and it names the line.
.venv/bin/python -m mypy
exec .venv/bin/python -m pytest "$@"
