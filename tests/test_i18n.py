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


FOLD_SOURCES = [
    '<h1>{{ _("Household file") }}</h1>',
    '<p title="{{ _("Enter a name (without < or >).") }}">{{ _("yes") if flag else _("no") }}</p>',
    '{% set a, b = _("Name"), _("Relation") %}{{ a }}/{{ b }}',
    '{{ _("Showing the members, items and relief index valid on %(day)s.", day="2026-12-01") }}',
    "{{ _(dynamic) }}",
]


def test_templates_compile_their_literal_texts_translated_and_render_as_before():
    """handlers/common.py folds ``_("literal")`` into each language's templates: the page
    must read exactly as Jinja's run-time gettext renders it, in both languages."""
    from jinja2 import Environment

    from relief_pwa.handlers.common import ENVIRONMENTS
    from relief_pwa.i18n import gettext, ngettext

    plain = Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
    plain.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    context = {"flag": False, "dynamic": "Household file"}
    for language, environment in ENVIRONMENTS.items():
        token = current_language.set(language)
        try:
            for source in FOLD_SOURCES:
                expected = plain.from_string(source).render(context)
                assert environment.from_string(source).render(context) == expected, (language, source)
        finally:
            current_language.reset(token)
    # Folded for real: the compiled Chinese template holds the translation and calls nothing,
    # while a text with values, and a text not known until run time, stay calls.
    zh = ENVIRONMENTS["zh_Hans"]
    code = zh.compile(FOLD_SOURCES[0], raw=True)
    assert "<h1>家庭档案</h1>" in code and "resolve('_')" not in code
    for source in FOLD_SOURCES[3:]:
        assert "resolve('_')" in zh.compile(source, raw=True), source


def test_no_template_function_takes_jinjas_context():
    """A function marked ``pass_context`` gets a copy of the whole context on each call made
    inside a loop or block that sets a variable (a fifth of a list page's rendering): the
    globals the templates call, ``_()`` and ``can()`` included, take what they need as
    arguments (``can`` is bound to the request's actor by ``render``)."""
    from jinja2.utils import _PassArg

    from relief_pwa.handlers.common import ENVIRONMENTS

    for language, environment in ENVIRONMENTS.items():
        takers = [
            name
            for name, value in environment.globals.items()
            if callable(value) and _PassArg.from_obj(value) is _PassArg.context
        ]
        assert takers == [], (language, takers)
