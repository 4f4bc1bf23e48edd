#!/usr/bin/env bash
# Installs everything the test suite needs into .venv (and, on Debian/Ubuntu as root, the
# virtual-desktop tools the tray tests use), then runs the tests. Extra args go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -e ".[test]"

# Desktop tests (tray icon, global hotkeys) need an X server, a tray host and xdotool.
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    missing=""
    for tool in Xvfb xdotool trayer import; do command -v "$tool" >/dev/null 2>&1 || missing=1; done
    if [ -n "$missing" ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
            xvfb xdotool trayer imagemagick >/dev/null) || echo "note: could not install the desktop test tools; those tests will be skipped"
    fi
fi

exec .venv/bin/python -m pytest "$@"
