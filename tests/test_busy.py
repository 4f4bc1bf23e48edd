"""A busy machine: the detector width follows the load (numpy only, no video)."""

from __future__ import annotations

import pytest

from livecam.live.worker import AUTO_SIZES, WidthGovernor


def _feed(gov: WidthGovernor, ms: float, n: int, t0: float, dt: float = 0.1) -> tuple[list[int], float]:
    changes = []
    t = t0
    for _ in range(n):
        t += dt
        w = gov.record(ms, t)
        if w is not None:
            changes.append(w)
    return changes, t


def test_width_steps_down_under_load_one_step_per_cooldown_then_back_up_when_idle():
    gov = WidthGovernor(AUTO_SIZES, AUTO_SIZES.index(640), budget_ms=45)
    down, t = _feed(gov, 150.0, 60, 0.0)  # 6 s of 150 ms detections (an encoder started)
    assert down == [512, 416, 320], "one step every 2 s, never two at once"
    up, t = _feed(gov, 15.0, 100, t)  # the load is gone: 15 ms per detection
    assert up[:2] == [416, 512] and gov.width <= 1024
    # back at a width whose detections fit the budget: it stays there
    steady, _ = _feed(gov, 40.0, 100, t)
    assert steady == []


@pytest.mark.parametrize("ms, expected", [(44.0, None), (60.0, None), (80.0, 416), (20.0, 640)])
def test_a_width_changes_only_outside_the_band(ms, expected):
    gov = WidthGovernor(AUTO_SIZES, AUTO_SIZES.index(512), budget_ms=45, cooldown_s=0)
    changes, _ = _feed(gov, ms, 5, 0.0)
    assert (changes[0] if changes else None) == expected


def test_never_below_the_smallest_width_nor_above_the_top():
    gov = WidthGovernor((640, 320), 1, budget_ms=45, cooldown_s=0)
    assert _feed(gov, 500.0, 20, 0.0)[0] == []
    gov = WidthGovernor((640, 320), 0, budget_ms=45, cooldown_s=0)
    assert _feed(gov, 1.0, 20, 0.0)[0] == []
