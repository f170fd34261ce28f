"""The password policy with its shipped common-password list, for every path that sets a password."""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

from relief_pwa.core import passwords as policy


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    text = resources.files("relief_pwa.data").joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def check_new_password(password: str, *, username: str) -> None:
    """Raise a ``DomainError`` on field ``password`` unless the password meets the policy."""
    policy.check_password(password, username=username, common=common_passwords())
