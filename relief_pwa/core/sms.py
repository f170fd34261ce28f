"""SMS rules that need no I/O: message length in segments, fitting a notice into
two segments, the keywords applicants reply with, and the outbox lane of a phone.

Length (docs/sms.md): a message with any Chinese character is sent in UCS-2,
70 characters in one segment; a longer one is split into segments of 67 (the
rest carries the joining header). The gateway adds the sender signature
(【…】) in front, and carriers count it, so every count here includes it.
"""

from __future__ import annotations

import math
import unicodedata

SINGLE_SEGMENT = 70
MULTI_SEGMENT = 67
MAX_SEGMENTS = 2
ELLIPSIS = "…"

# The outbox orders messages per ``chat_id``; SMS rows use a lane per phone far
# above any Telegram id (< 2**52) and below the staff console's chats (8·10**18).
SMS_LANE_BASE = 7 * 10**18
SMS_LANE_SPAN = 10**18

KEYWORD_OPT_OUT = "opt_out"
KEYWORD_OPT_IN = "opt_in"
KEYWORD_STATUS = "status"
_KEYWORDS = {
    "退订": KEYWORD_OPT_OUT,
    "TD": KEYWORD_OPT_OUT,
    "T": KEYWORD_OPT_OUT,
    "STOP": KEYWORD_OPT_OUT,
    "订阅": KEYWORD_OPT_IN,
    "DY": KEYWORD_OPT_IN,
    "查询": KEYWORD_STATUS,
    "CX": KEYWORD_STATUS,
}


def signature(sender_id: str) -> str:
    """The signature carriers show in front of the text (empty without a sender id)."""
    return f"【{sender_id}】" if sender_id else ""


def segments(text: str, sender_id: str = "") -> int:
    """How many SMS segments ``text`` takes once the gateway adds the signature."""
    length = len(signature(sender_id)) + len(text)
    if length <= SINGLE_SEGMENT:
        return 1
    return math.ceil(length / MULTI_SEGMENT)


def budget(sender_id: str = "", max_segments: int = MAX_SEGMENTS) -> int:
    """The most characters of text that fit in ``max_segments`` with the signature."""
    room = SINGLE_SEGMENT if max_segments == 1 else MULTI_SEGMENT * max_segments
    return room - len(signature(sender_id))


def shorten(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters, marked with an ellipsis when cut."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[: max(0, limit - 1)].rstrip() + ELLIPSIS


def parse_keyword(body: str) -> str | None:
    """The command in an applicant's reply ("退订", "TD", "订阅", "查询" …), or None."""
    folded = unicodedata.normalize("NFKC", body).strip().strip("。.!！ ").upper()
    return _KEYWORDS.get(folded)


def is_mobile(digits: str) -> bool:
    """Only mainland mobiles receive SMS (landlines are stored as digits too)."""
    return len(digits) == 11 and digits.isdigit() and digits[0] == "1" and digits[1] in "3456789"


def lane_of(phone_index: str) -> int:
    """The outbox lane (``chat_id``) of a phone, from its blind index (hex)."""
    return SMS_LANE_BASE + int(phone_index[:15], 16) % SMS_LANE_SPAN


def is_sms_lane(chat_id: int) -> bool:
    return SMS_LANE_BASE <= chat_id < SMS_LANE_BASE + SMS_LANE_SPAN
