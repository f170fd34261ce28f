"""Send pacing for the Telegram outbox: a global rate and a minimum gap per chat.

Pure: the caller passes the current (monotonic) time in seconds and sleeps
for the delay it gets back. Slots are reserved, so concurrent senders in one
event loop never take the same slot. There is no burst allowance: Telegram
counts "about 30 messages per second", so slots are spaced evenly at 1/rate.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class SendPacer:
    """Reserve send slots: at most ``per_second`` overall, one per ``per_chat_interval`` per chat."""

    per_second: float
    per_chat_interval: float
    _next_global: float = 0.0
    _next_by_chat: dict[int, float] = field(default_factory=dict)
    _paused_until: float = 0.0

    def __post_init__(self) -> None:
        if self.per_second <= 0:
            raise ValueError("per_second must be positive")
        if self.per_chat_interval < 0:
            raise ValueError("per_chat_interval must not be negative")

    @property
    def interval(self) -> float:
        return 1.0 / self.per_second

    def chat_wait(self, chat_id: int, now: float) -> float:
        """Seconds until ``chat_id`` may receive again (0 when free)."""
        return max(0.0, self._next_by_chat.get(chat_id, 0.0) - now)

    def reserve(self, chat_id: int, now: float) -> float:
        """Take the next slot for ``chat_id``; return how long to wait before sending.

        The chat's next slot is booked at once, so a second sender for the
        same chat sees it busy even before the first message leaves.
        """
        slot = max(now, self._next_global, self._paused_until, self._next_by_chat.get(chat_id, 0.0))
        self._next_global = slot + self.interval
        self._next_by_chat[chat_id] = slot + self.per_chat_interval
        return slot - now

    def started(self, chat_id: int, at: float) -> None:
        """The send actually began at ``at``: later slots count from here, so a sender
        that woke up late never squeezes the next ones closer together."""
        self._next_global = max(self._next_global, at + self.interval)
        self._next_by_chat[chat_id] = max(self._next_by_chat.get(chat_id, 0.0), at + self.per_chat_interval)

    def finished(self, chat_id: int, at: float) -> None:
        """The send to ``chat_id`` ended at ``at``: its gap counts from here as well, so a send
        slowed on its way (it reached Telegram late) is not followed by the next one too soon."""
        self._next_by_chat[chat_id] = max(self._next_by_chat.get(chat_id, 0.0), at + self.per_chat_interval)

    def delay_chat(self, chat_id: int, until: float) -> None:
        """Keep a chat quiet until ``until`` (after a per-chat 429)."""
        self._next_by_chat[chat_id] = max(self._next_by_chat.get(chat_id, 0.0), until)

    def pause(self, until: float) -> None:
        """Stop all sending until ``until`` (Telegram said "retry after")."""
        self._paused_until = max(self._paused_until, until)

    def forget_idle(self, now: float) -> None:
        """Drop chats whose gap has passed, so the map does not grow without bound."""
        self._next_by_chat = {chat: at for chat, at in self._next_by_chat.items() if at > now}
