"""The outbox's send pacing (core/ratelimit.py): a global rate, and a gap per chat counted from
a send's start and from its end."""

from __future__ import annotations

import pytest

from relief_pwa.core.ratelimit import SendPacer


def test_slots_are_spaced_globally_and_per_chat() -> None:
    pacer = SendPacer(per_second=10, per_chat_interval=1.0)
    assert pacer.reserve(1, 0.0) == 0.0
    assert pacer.reserve(2, 0.0) == pytest.approx(0.1)  # another chat: the next global slot
    assert pacer.reserve(1, 0.0) == pytest.approx(1.0)  # the same chat: its gap
    assert pacer.chat_wait(2, 0.5) == pytest.approx(0.6)


def test_a_send_that_ends_late_pushes_its_chats_next_slot_and_no_other() -> None:
    pacer = SendPacer(per_second=10, per_chat_interval=0.3)
    assert pacer.reserve(1, 0.0) == 0.0
    pacer.started(1, 0.0)
    # Slowed on its way: it ended (reached Telegram at the latest) at 0.25 s.
    pacer.finished(1, 0.25)
    assert pacer.chat_wait(1, 0.3) == pytest.approx(0.25)  # 0.55, not 0.3
    assert pacer.reserve(2, 0.3) == 0.0  # other chats and the global rate are not held up
    # A send that ended as it began (no delay on its way) changes nothing.
    pacer.finished(2, 0.3)
    assert pacer.chat_wait(2, 0.3) == pytest.approx(0.3)


def test_a_pause_holds_every_chat() -> None:
    pacer = SendPacer(per_second=30, per_chat_interval=0.0)
    pacer.pause(5.0)
    assert pacer.reserve(7, 1.0) == pytest.approx(4.0)
    with pytest.raises(ValueError):
        SendPacer(per_second=0, per_chat_interval=1.0)
