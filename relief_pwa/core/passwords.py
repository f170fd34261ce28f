"""The one password policy, used by every path that sets a password (page, CLI, import).

Pure: the common-password list is passed in (the service layer loads the file
shipped in ``relief_pwa/data/common_passwords.txt``).
"""

from __future__ import annotations

from collections.abc import Collection
from itertools import pairwise

from relief_pwa.core.errors import DomainError
from relief_pwa.core.i18n import N_

MIN_PASSWORD_LENGTH = 12
MAX_PASSWORD_LENGTH = 200

# Passwords shipped with the demo: production refuses to start while any account still has one.
DEMO_PASSWORDS = ("sunshine",)


def _is_sequence(text: str) -> bool:
    """One repeated character or a run of consecutive characters (abcd…, 9876…)."""
    if len(set(text)) <= 2:
        return True
    steps = {ord(b) - ord(a) for a, b in pairwise(text)}
    return len(steps) == 1 and steps <= {-1, 1}


def password_problem(password: str, *, username: str, common: Collection[str]) -> str | None:
    """The English message id of the first rule the password breaks, or None."""
    if len(password) < MIN_PASSWORD_LENGTH:
        return N_("Password: at least 12 characters.")
    if len(password) > MAX_PASSWORD_LENGTH:
        return N_("Password: at most 200 characters.")
    lowered = password.lower()
    if lowered in common or _is_sequence(lowered):
        return N_("This password is too common; choose another.")
    name = username.strip().lower()
    if len(name) >= 3 and name in lowered:
        return N_("The password must not contain the username.")
    return None


def check_password(password: str, *, username: str, common: Collection[str]) -> None:
    """Raise a field error on ``password`` unless it meets the policy."""
    problem = password_problem(password, username=username, common=common)
    if problem is not None:
        raise DomainError(problem, field="password")
