"""The one-slot handover used between livecam's threads: newest wins, nothing queues (a bounded backlog
where asked)."""

import threading
import time

from livecam.mailbox import Mailbox


def test_the_newest_value_wins_and_taking_empties_the_slot():
    box: Mailbox[int] = Mailbox()
    for i in range(5):
        box.put(i)
    assert box.take(0) == 4
    assert box.take(0) is None and box.empty


def test_take_waits_for_a_value_from_another_thread_and_times_out_without_one():
    box: Mailbox[str] = Mailbox()
    threading.Timer(0.05, box.put, args=("frame",)).start()
    assert box.take(timeout=10) == "frame"
    t0 = time.monotonic()
    assert box.take(timeout=0.05) is None
    assert time.monotonic() - t0 >= 0.04


def test_close_wakes_a_waiting_take_for_good_and_later_puts_are_ignored():
    box: Mailbox[int] = Mailbox()
    got: list = []
    t = threading.Thread(target=lambda: got.append(box.take()))
    t.start()
    box.close()
    t.join(10)
    assert not t.is_alive() and got == [None]
    box.put(1)
    assert box.take() is None and box.closed


def test_put_if_empty_never_replaces_a_newer_value():
    box: Mailbox[int] = Mailbox()
    box.put(2)
    box.put_if_empty(1)
    assert box.take(0) == 2
    box.put_if_empty(1)
    assert box.take(0) == 1


def test_update_keeps_what_the_replaced_value_said():
    """The detection thread's frame handover: a frame that starts a new scene is detected at once;
    a newer frame replacing it before it was taken must keep that urgency."""
    box: Mailbox[tuple[int, bool]] = Mailbox()

    def offer(frame: int, urgent: bool) -> None:
        box.update(lambda old: (frame, urgent or (old is not None and old[1])))

    offer(1, True)
    offer(2, False)
    assert box.take(0) == (2, True)
    offer(3, False)
    assert box.take(0) == (3, False)


def test_a_deeper_mailbox_hands_over_the_oldest_first_and_drops_beyond_its_depth():
    """The camera handover with a look-ahead delay: a pipeline a few frames late still gets each frame,
    in order; more than ``depth`` behind, the oldest are dropped (and counted)."""
    box: Mailbox[int] = Mailbox(depth=3)
    for i in range(5):
        box.put(i)
    assert [box.take(0) for _ in range(4)] == [2, 3, 4, None]
    assert box.dropped == 2
    box.depth = 1
    box.put(7)
    box.put(8)
    assert box.take(0) == 8 and box.dropped == 3
