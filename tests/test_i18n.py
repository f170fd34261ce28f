"""Every message id in the code has a Chinese translation, and the catalogs are current."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from babel.messages.pofile import read_po

from relief_pwa.i18n import LOCALE_DIR, current_language, translate

REPO = Path(__file__).resolve().parent.parent


def _catalog(language: str):
    with (LOCALE_DIR / language / "LC_MESSAGES" / "messages.po").open("rb") as handle:
        return read_po(handle, locale=language)


def _extract(tmp_path: Path):
    pot = tmp_path / "messages.pot"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "babel.messages.frontend",
            "extract",
            "-F",
            "babel.cfg",
            "-k",
            "N_",
            "-k",
            "translate",
            "-k",
            "t",
            "--no-location",
            "-o",
            str(pot),
            ".",
        ],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    with pot.open("rb") as handle:
        return read_po(handle)


def test_every_message_in_the_code_is_translated_to_chinese(tmp_path):
    in_code = {m.id for m in _extract(tmp_path) if m.id}
    chinese = _catalog("zh_Hans")
    missing = sorted(
        (mid if isinstance(mid, str) else mid[0])
        for mid in in_code
        if not (
            chinese.get(mid)
            and (
                chinese.get(mid).string
                if isinstance(chinese.get(mid).string, str)
                else all(chinese.get(mid).string)
            )
        )
    )
    assert missing == [], f"{len(missing)} untranslated; run scripts/i18n and translate: {missing[:20]}"


def test_translation_keeps_placeholders():
    chinese = _catalog("zh_Hans")
    import re

    for message in chinese:
        if not message.id or not isinstance(message.id, str) or not message.string:
            continue
        wanted = sorted(re.findall(r"\{(\w+)\}|%\((\w+)\)s", message.id))
        got = sorted(re.findall(r"\{(\w+)\}|%\((\w+)\)s", message.string))
        assert wanted == got, message.id


def test_switching_language_changes_the_text():
    token = current_language.set("en")
    try:
        assert translate("Wrong username or password.") == "Wrong username or password."
    finally:
        current_language.reset(token)
    token = current_language.set("zh_Hans")
    try:
        assert translate("Wrong username or password.") != "Wrong username or password."
    finally:
        current_language.reset(token)
