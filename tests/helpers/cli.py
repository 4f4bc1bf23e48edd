"""Run the installed CLI as a user would."""

from __future__ import annotations

import subprocess
import sys





def livecam(*args, timeout=600, env=None) -> subprocess.CompletedProcess:
    import os

    return subprocess.run([sys.executable, "-m", "livecam", *map(str, args)], capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
