"""livecam: real-time face anonymizer for livestreams, videos and photos."""

import os

__version__ = "0.1.0"

# OpenMP's wait on a shared machine. PyTorch's CPU threads (GNU OpenMP in the Linux wheels) spin
# GOMP_SPINCOUNT times at every barrier before they sleep: 300000 by default, which with Intel's `pause`
# (about 140 cycles since Skylake) is ~15 ms of a core burnt each time a sibling thread is descheduled. Beside
# two busy processes on 2 cores, `anonymize --jobs 1` (2 torch threads) took 57-94 s on the dev clips against
# 33-35 s at 10000, and 12-14 s idle either way (README, "Archives on a busy machine"). libgomp reads it once,
# when torch is loaded: livecam's package is imported first in every livecam process (CLI, tray, the batch
# and Ray workers). A user's own GOMP_SPINCOUNT or OMP_WAIT_POLICY is kept.
OMP_SPIN_COUNT = "10000"
if "GOMP_SPINCOUNT" not in os.environ and "OMP_WAIT_POLICY" not in os.environ:
    os.environ["GOMP_SPINCOUNT"] = OMP_SPIN_COUNT
