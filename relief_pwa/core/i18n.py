"""Message markers for the pure core.

Core code never translates: it returns English message ids (with ``{name}``
placeholders) that the edge (pages, bot) translates with gettext. ``N_`` only
marks a string for extraction by Babel.
"""

from __future__ import annotations


def N_(message: str) -> str:  # noqa: N802 - gettext convention
    return message
