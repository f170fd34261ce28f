"""Edge helpers shared by handlers: rendering pages or htmx fragments, the
current actor, form parsing and turning domain errors into messages."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any
from urllib.parse import quote

from jinja2 import Environment, FileSystemLoader, nodes, select_autoescape
from jinja2.visitor import NodeTransformer
from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.datastructures import FormMultiDict
from litestar.exceptions import NotAuthorizedException
from litestar.handlers.base import BaseRouteHandler
from litestar.response import Redirect
from markupsafe import Markup

from relief_pwa.core.errors import DomainError, PermissionDenied, ValidationFailed
from relief_pwa.core.i18n import N_
from relief_pwa.core.money import format_yuan
from relief_pwa.core.permissions import Capability
from relief_pwa.handlers import sessions
from relief_pwa.i18n import (
    DEFAULT_LANGUAGE,
    LANGUAGES,
    current_language,
    gettext,
    ngettext,
    translate,
    translations,
)
from relief_pwa.services.actors import Actor

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates"


def _label(value: Any) -> str:
    """Translate an enum member's label (or a raw code) for display."""
    label = getattr(value, "label", None)
    if label is None:
        label = _code_labels().get(value) if isinstance(value, str) else None
    return gettext(label) if label else str(value)


_code_label_table: tuple[int, dict[str, str]] = (-1, {})


def _code_labels() -> dict[str, str]:
    """Raw code → label of the first labelled enum that has it (pages show many codes per row,
    and asking every enum type in turn cost more than the rest of a list row together)."""
    global _code_label_table
    from relief_pwa.core import enums

    types = enums.LabelledEnum.__subclasses__()
    if _code_label_table[0] != len(types):
        table: dict[str, str] = {}
        for enum_type in types:
            for member in enum_type:
                table.setdefault(member.value, member.label)
        _code_label_table = (len(types), table)
    return _code_label_table[1]


@lru_cache(maxsize=128)
def _labels_in(enum_name: str, language: str) -> dict[str, str]:
    from relief_pwa.core import enums

    translations_of = translations(language)
    return {member.value: translations_of.gettext(member.label) for member in getattr(enums, enum_name)}


_unit_options: dict[tuple[int, str], tuple[Sequence[Any], Markup]] = {}


def unit_options(units: Sequence[Any], selected: str) -> Markup:
    """The ``<option>``s of an org unit picker (value: code), rendered once per unit list and
    choice: a city's street filter has some 160 options, escaped on every page otherwise.
    Keyed by the list's identity, which services keep while the org tree is unchanged."""
    key = (id(units), selected)
    hit = _unit_options.get(key)
    if hit is not None and hit[0] is units:
        return hit[1]
    option = Markup('<option value="{}"{}>{}</option>')
    html = Markup("").join(
        option.format(u.code, Markup(" selected") if u.code == selected else "", u.name) for u in units
    )
    if len(_unit_options) > 512:
        _unit_options.clear()
    _unit_options[key] = (units, html)  # holding the list keeps its id from being reused
    return html


def labels_for(enum_name: str) -> dict[str, str]:
    """Every code of one enum with its label in the current language: a page with many rows
    looks each one up in this dict instead of calling ``label`` per cell."""
    return _labels_in(enum_name, current_language.get())


def _label_of(enum_name: str, value: Any) -> str:
    from relief_pwa.core import enums

    enum_type = getattr(enums, enum_name)
    try:
        return gettext(enum_type(value).label)
    except ValueError:
        return str(value)


_ACTION_LABELS = {
    "caseload.import": N_("Caseload brought in from a roster"),
    # Entitlement periods opened without a workflow transition, and a further form of aid.
    "application.import": N_("Brought in with the caseload import"),
    "application.granted_first": N_("Temporary relief granted first (先行救助)"),
    "application.add": N_("Another form of aid applied for"),
    "keys.rotate": N_("Identifiers re-sealed under a new key"),
    "household.create": N_("Household file opened"),
    "household.move_out": N_("Household moved to another community (handed over)"),
    "household.move_in": N_("Household moved in from another community (taken over)"),
    "household.split": N_("Household split: new file opened"),
    "household.merge": N_("Household files merged"),
    "life_event.request": N_("Life event filed for approval"),
    "life_event.approve": N_("Life event approved and applied"),
    "life_event.refuse": N_("Life event refused"),
    "household.close": N_("Household file closed"),
    "household.reopen": N_("Household file opened again"),
    "review.decide": N_("Review decided"),
    "review.gradual_exit_end": N_("Gradual exit (渐退) window ended"),
    "emergency.grant": N_("Temporary relief granted first (先行救助)"),
    "plan.end_line": N_("Plan line ended early"),
    "entitlement.open": N_("Payments start (entitlement period opened)"),
    "entitlement.close": N_("Payments stop (entitlement period closed)"),
    "payment.withdraw": N_("Unsent payments withdrawn: month no longer entitled"),
    "batch.recount": N_("Payment batch recounted"),
    "household.update": N_("Household details changed"),
    "household.near_relative": N_("Near-relative filing recorded"),
    "member.add": N_("Member added"),
    "member.update": N_("Member details changed"),
    "member.remove": N_("Member left the household"),
    "item.add": N_("Income, asset or expense added"),
    "item.remove": N_("Income, asset or expense removed"),
    "application.receive": N_("Application received"),
    "application.id": N_("Application number given"),
    "staff.create": N_("Staff account created"),
    "staff.enable": N_("Staff account enabled"),
    "staff.disable": N_("Staff account disabled"),
    "org.create": N_("Org unit created"),
    "org.update_office": N_("Office details changed"),
    "setting.update": N_("Setting changed"),
    "standard.create": N_("Relief standard set"),
    "index.rescore_all": N_("Every household re-scored"),
    "index.recompute": N_("Relief index recomputed"),
    "scoring_model.create": N_("Scoring model drafted"),
    "scoring_model.activate": N_("Scoring model put in use"),
    "shock.record": N_("Sudden hardship recorded"),
    "job.done": N_("Background job finished"),
    "visit.schedule": N_("Home visit scheduled"),
    "visit.create": N_("Home visit recorded (unscheduled)"),
    "visit.record": N_("Home visit recorded"),
    "visit.edit": N_("Home visit corrected"),
    "visit.cancel": N_("Home visit cancelled"),
    "verification.record": N_("Verified value recorded"),
    "datacheck.authorise": N_("Authorisation for data checks recorded"),
    "datacheck.request": N_("Data checks requested"),
    "datacheck.export": N_("Data-check batch exported to an agency"),
    "datacheck.import": N_("Data-check results imported"),
    "datacheck.result": N_("Data-check results entered in the file"),
    "datacheck.waive": N_("Opinion given without a complete data-check report"),
    "datacheck.review": N_("Data-check change reviewed"),
    "datacheck.recheck_queued": N_("Recipients' periodic data checks queued"),
    "photo.add": N_("Photo added"),
    "eligibility.opinion": N_("Eligibility opinion given"),
    "card.issue": N_("Household card issued"),
    "card.revoke": N_("Household card revoked"),
    "notice.start": N_("Public notice (公示) started"),
    "notice.end": N_("Public notice (公示) ended"),
    "notice.interrupt": N_("Public notice (公示) interrupted"),
    "list.publish": N_("Recipient list published"),
    "policy.publish": N_("Policy page published"),
    "objection.file": N_("Objection or complaint filed"),
    "objection.investigate": N_("Objection investigated"),
    "objection.answer": N_("Objection answered"),
    "objection.close": N_("Objection closed"),
    "provider.create": N_("Provider added"),
    "fund.create": N_("Fund opened"),
    "donation.record": N_("Donation recorded"),
    "resource.create": N_("Resource added"),
    "resource.update": N_("Resource changed"),
    "plan.draft": N_("Relief plan drafted"),
    "plan.approve": N_("Relief plan approved"),
    "plan.adjust_line": N_("Plan line adjusted"),
    "plan.cancel_line": N_("Plan line cancelled"),
    "plan.remove_line": N_("Plan line removed"),
    "payment.generate": N_("Monthly payments generated"),
    "batch.create": N_("One-card batch created"),
    "batch.export": N_("One-card batch exported to the bank"),
    "batch.reconcile": N_("One-card batch reconciled"),
    "handover.confirm": N_("Handover confirmed"),
    "followup.alert": N_("Follow-up alert raised"),
    "followup.resolve": N_("Follow-up resolved"),
    "sample.draw": N_("Re-verification sample drawn"),
    "sample_item.finding": N_("Re-verification finding recorded"),
    "bot.token_issue": N_("Bot link code issued to the applicant"),
    "bot.bind": N_("Applicant linked the bot"),
    "bot.unbind": N_("Applicant unlinked the bot"),
    "bot.language": N_("Bot language changed"),
    "bot.chat_blocked": N_("Applicant blocked the bot"),
    "bot.chat_unblocked": N_("Applicant unblocked the bot"),
    "sms.opt_out": N_("Applicant stopped SMS notices (退订)"),
    "sms.opt_in": N_("Applicant resumed SMS notices (订阅)"),
    "preapplication.create": N_("Pre-application received through the bot"),
    "preapplication.taken": N_("Pre-application taken up"),
    "preapplication.closed": N_("Pre-application closed"),
}

# Kinds of record an audit event is about (the entity_type of the event).
_ENTITY_LABELS = {
    "caseload_import": N_("Caseload import"),
    "key_ring": N_("Identifier keys"),
    "application": N_("Application"),
    "household": N_("Household"),
    "household_card": N_("Household card"),
    "sms_opt_out": N_("SMS opt-out"),
    "member": N_("Member"),
    "change_request": N_("Life event"),
    "money_item": N_("Income, asset or expense"),
    "datacheck_consent": N_("Authorisation for data checks"),
    "datacheck_batch": N_("Data-check batch"),
    "datacheck_request": N_("Data-check request"),
    "aid_record": N_("Aid received"),
    "shock": N_("Sudden hardship"),
    "visit": N_("Home visit"),
    "photo": N_("Photo"),
    "eligibility_opinion": N_("Eligibility opinion"),
    "public_notice": N_("Public notice (公示)"),
    "published_list": N_("Published list"),
    "policy_page": N_("Policy page"),
    "objection": N_("Objection or complaint"),
    "near_relative_filing": N_("Near-relative filing"),
    "provider": N_("Provider"),
    "fund": N_("Fund"),
    "donation": N_("Donation"),
    "resource": N_("Resource"),
    "plan": N_("Relief plan"),
    "plan_line": N_("Plan line"),
    "payment": N_("Payment"),
    "payment_month": N_("Monthly payments"),
    "disbursement_batch": N_("One-card batch"),
    "entitlement": N_("Entitlement period"),
    "handover": N_("Handover"),
    "relief_standard": N_("Relief standard"),
    "scoring_model": N_("Scoring model"),
    "system_setting": N_("Setting"),
    "staff": N_("Staff account"),
    "org_unit": N_("Org unit"),
    "job": N_("Background job"),
    "reverification_sample": N_("Re-verification sample"),
    "sample_item": N_("Sampled household"),
    "bot_chat": N_("Bot chat"),
    "pre_application": N_("Pre-application"),
    "review_decision": N_("Review decision"),
}


# Codes stored as plain strings (not enums), by what they are codes of.
_CODE_LABELS: dict[str, dict[str, str]] = {
    "plan": {
        "draft": N_("Draft"),
        "approved": N_("Approved"),
        "implemented": N_("Implemented"),
        "cancelled": N_("Cancelled"),
    },
    "batch": {"draft": N_("Draft"), "exported": N_("Exported"), "reconciled": N_("Reconciled")},
    "payment": {
        "queued": N_("Queued"),
        "batched": N_("In a batch"),
        "paid": N_("Paid"),
        "failed": N_("Failed"),
    },
    "model": {"draft": N_("Draft"), "active": N_("In use"), "retired": N_("Retired")},
    "notice": {"running": N_("Running"), "ended": N_("Ended"), "interrupted": N_("Interrupted")},
    "job": {"queued": N_("Queued"), "running": N_("Running"), "done": N_("Done"), "failed": N_("Failed")},
    "fund_entry": {
        "income": N_("Income"),
        "reserve": N_("Reserved"),
        "release": N_("Released"),
        "pay": N_("Paid out"),
        "refund": N_("Refunded"),
    },
    "section": {"income": N_("Income"), "asset": N_("Assets"), "expense": N_("Rigid expenses")},
    "need": {
        "living": N_("Basic living"),
        "medical": N_("Medical care"),
        "heating": N_("Heating"),
        "temporary": N_("Temporary hardship"),
        "bedding": N_("Bedding and clothing"),
        "education": N_("Schooling"),
        "housing": N_("Housing"),
        "disaster": N_("Disaster relief"),
        "food": N_("Food"),
    },
    "model_param": {
        "window_months": N_("Window (months)"),
        "decay_months": N_("Fades over (months)"),
        "scale_months": N_("Scale (months)"),
        "exemption_months": N_("Exempt for (months)"),
    },
    "trigger": {
        "intake": N_("application taken"),
        "facts": N_("facts changed"),
        "manual": N_("recomputed by staff"),
        "shock": N_("sudden hardship"),
        "verification": N_("verified values"),
        "caseload.import": N_("caseload import"),
        "data_check": N_("data-check results"),
        "time": N_("time passed (age, decay)"),
        "life_event:merge": N_("households merged"),
        "life_event:split": N_("household split"),
    },
}


def code_label(group: str, code: Any) -> str:
    """The readable name of a stored code of one kind (``group``), else the code."""
    text = "" if code is None else str(code)
    labels = _CODE_LABELS.get(group, {})
    return gettext(labels[text]) if text in labels else text


_LEVEL_ENUMS = {"illness": "Illness", "housing": "Housing"}


def level_label(factor: str, level: str) -> str:
    """A scoring factor's level ("housing", "rented_heavy") by the enum of that factor."""
    if factor in _LEVEL_ENUMS:
        return _label_of(_LEVEL_ENUMS[factor], level)
    if factor == "disability":
        return translate(N_("grade {grade}"), grade=level)
    return level


def trigger_label(trigger: str) -> str:
    """Why an index was computed: "intake", "application.approve", "aid.cash", "model:3"..."""
    if trigger.startswith("application."):
        return action_label(trigger)
    if trigger.startswith("model:"):
        return translate(N_("model {version}"), version=trigger.removeprefix("model:"))
    if trigger.startswith("aid."):
        return gettext(N_("aid received"))
    return code_label("trigger", trigger)


_MISSING_FACTS = {"members": N_("Members"), "income": N_("Income")}  # what blocks the means test


def rule_numbers(numbers: Mapping[str, Any]) -> dict[str, Any]:
    """A means-test rule's numbers for its message: the missing facts by name, not by code."""
    readable = dict(numbers)
    if isinstance(missing := numbers.get("missing"), str):
        readable["missing"] = ", ".join(gettext(_MISSING_FACTS.get(c, c)) for c in missing.split(",") if c)
    return readable


def translated_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Message parameters made readable: message ids (marked N_) and enum codes
    ("urban", "dibao") translated, a need by its name; other values (names,
    numbers) come back unchanged."""

    def readable(key: str, value: Any) -> Any:
        if not isinstance(value, str):
            return value
        if key == "need":
            return code_label("need", value)
        translated = gettext(value)
        return translated if translated != value else _label(value)

    return {key: readable(key, value) for key, value in params.items()}


def reference_label(reference: str) -> str:
    """A fund entry's reference ("donation:3", "plan_line:12") as a readable record name."""
    kind, sep, number = reference.partition(":")
    if sep and kind in _ENTITY_LABELS:
        return f"{gettext(_ENTITY_LABELS[kind])} #{number}"
    return reference


def action_label(action: str) -> str:
    """A readable name for an audit action code (falls back to the code itself)."""
    from relief_pwa.core.workflow import TRANSITIONS

    if action in _ACTION_LABELS:
        return gettext(_ACTION_LABELS[action])
    prefix, _, suffix = action.partition(".")
    if prefix == "application" and suffix in TRANSITIONS:
        return gettext(TRANSITIONS[suffix].label)
    return action


def _never(capability: Capability | str) -> bool:
    return False


def _can_for(actor: Any) -> Any:
    """Template test of the policy: ``{% if can(C.PLAN_APPROVE) %}`` shows what the actor may use.

    Bound to the request's actor in ``render``, not read from Jinja's context: a function that
    takes the context costs a copy of it on each call inside a loop that sets a variable."""
    if not isinstance(actor, Actor):
        return _never

    def can(capability: Capability | str) -> bool:
        return actor.can(Capability(capability))

    return can


def entity_label(entity_type: str) -> str:
    """A readable name for the kind of record an audit event is about."""
    return gettext(_ENTITY_LABELS[entity_type]) if entity_type in _ENTITY_LABELS else entity_type


_ACTOR_LABEL = re.compile(r"(?P<name>.*?) \((?P<username>[^()]*)\)\Z", re.S)


def actor_name(actor_label: str) -> str:
    """The person in a stored actor label ("王秀兰（联络员） (liaison)" → "王秀兰（联络员）").

    The label is kept whole in the audit chain (it is hashed); pages for people
    show the name, the audit browser shows the username beside it as a code."""
    match = _ACTOR_LABEL.match(actor_label)
    return match.group("name") if match else actor_label


def actor_username(actor_label: str) -> str:
    match = _ACTOR_LABEL.match(actor_label)
    return match.group("username") if match else ""


def _yuan(fen: Any) -> str:
    return "" if fen is None else format_yuan(int(fen))


def _localtime(value: Any, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored moment (UTC, or text from SQLite) shown in Beijing time; dates and blanks pass through."""
    from datetime import date

    from relief_pwa.clock import local_time

    if value is None or value == "":
        return ""
    if isinstance(value, str):
        text = value
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            return text
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return local_time(value).strftime(fmt)
    if isinstance(value, date):
        return value.strftime(fmt if "%H" not in fmt else "%Y-%m-%d")
    return str(value)


def _localdate(value: Any) -> str:
    return _localtime(value, "%Y-%m-%d")


_ATTRIBUTE_NAME = re.compile(r"[a-z][a-z0-9-]*\Z")


def html_attrs(attrs: Mapping[str, Any]) -> Markup:
    """Extra attributes of a form control, each value escaped on its own.

    A mapping, never a pre-built string: autoescaping a string of attributes
    turns its quotes into ``&#34;`` and the browser then sees broken values
    (a pattern with literal quotes blocks the form). ``True`` gives a bare
    attribute; ``None`` and ``False`` leave it out."""
    if not isinstance(attrs, Mapping):
        raise TypeError(f"form control attributes must be a mapping, not {type(attrs).__name__}")
    parts = []
    for name, value in attrs.items():
        if not _ATTRIBUTE_NAME.match(name):
            raise ValueError(f"not an attribute name: {name!r}")
        if value is None or value is False:
            continue
        parts.append(Markup(" {}").format(name) if value is True else Markup(' {}="{}"').format(name, value))
    return Markup("").join(parts)


class _FoldTranslations(NodeTransformer):
    """Replace ``_("literal")`` by its translation while a template compiles.

    A page calls ``_()`` a hundred times; through Jinja's context and the catalog that was a
    third of rendering. The folded text is what the call would return at run time: the
    translation, %-formatted without values and marked safe (Jinja's newstyle gettext). A
    call with values, or a text that does not format without them, stays a call.
    """

    def __init__(self, language: str) -> None:
        self.catalog = translations(language)

    def visit_Call(self, call: nodes.Call) -> nodes.Node:  # noqa: N802  (Jinja calls it by this name)
        node = self.generic_visit(call)
        message = node.args[0] if isinstance(node, nodes.Call) and len(node.args) == 1 else None
        if not (
            isinstance(node, nodes.Call)
            and isinstance(node.node, nodes.Name)
            and node.node.name == "_"
            and isinstance(message, nodes.Const)
            and isinstance(message.value, str)
            and not node.kwargs
            and node.dyn_args is None
            and node.dyn_kwargs is None
        ):
            return node
        try:
            text = self.catalog.gettext(message.value) % {}
        except (KeyError, ValueError, TypeError):
            return node
        return nodes.MarkSafeIfAutoescape(nodes.Const(text, lineno=node.lineno), lineno=node.lineno)


def _template_gettext(message: str, /, **variables: Any) -> Markup:
    """``_()`` in templates: the translation, marked safe, its ``%(name)s`` filled escaped."""
    return Markup(gettext(message)) % variables  # noqa: S704  (the catalog is ours, as in Jinja's own)


def _template_ngettext(singular: str, plural: str, num: int, /, **variables: Any) -> Markup:
    variables.setdefault("num", num)
    return Markup(ngettext(singular, plural, num)) % variables  # noqa: S704


class _LanguageEnvironment(Environment):
    """An environment whose templates are compiled for one language (``_FoldTranslations``)."""

    def __init__(self, language: str, **options: Any) -> None:
        super().__init__(**options)
        self.language = language

    def _parse(self, source: str, name: str | None, filename: str | None) -> nodes.Template:
        tree = super()._parse(source, name, filename)
        folded: nodes.Template = _FoldTranslations(self.language).visit(tree)
        return folded


def build_environment(language: str = DEFAULT_LANGUAGE) -> Environment:
    """The templates of one language; ``environment()`` picks the request's."""
    from relief_pwa.handlers.assets import static_url

    env = _LanguageEnvironment(
        language,
        loader=FileSystemLoader(str(TEMPLATE_DIR)),
        autoescape=select_autoescape(["html", "xml", "svg"], default=True),
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
        # Templates ship with the code and a deploy restarts the process: no stat() of each
        # template file on every render.
        auto_reload=False,
    )
    env.install_gettext_callables(gettext, ngettext, newstyle=True)  # type: ignore[attr-defined]
    # The same newstyle gettext without Jinja's context argument: a function that takes the
    # context, called inside a loop or block that sets a variable, gets a copy of the whole
    # context on each call. Every template here is autoescaped, which is all it read.
    env.globals.update(_=_template_gettext, gettext=_template_gettext, ngettext=_template_ngettext)
    from relief_pwa.handlers.nav import nav_for

    env.globals.update(
        label=_label,
        label_of=_label_of,
        labels_for=labels_for,
        unit_options=unit_options,
        languages=LANGUAGES,
        t=translate,
        nav_for=nav_for,
        action_label=action_label,
        can=_never,  # render() binds it to the request's actor
        C=Capability,
        entity_label=entity_label,
        code_label=code_label,
        trigger_label=trigger_label,
        level_label=level_label,
        known_needs=tuple(_CODE_LABELS["need"]),
        reference_label=reference_label,
        translated_params=translated_params,
        rule_numbers=rule_numbers,
        actor_name=actor_name,
        actor_username=actor_username,
        html_attrs=html_attrs,
        static_url=static_url,
    )
    env.filters.update(yuan=_yuan, localtime=_localtime, localdate=_localdate)
    # Macros as globals: a block rendered alone (an htmx fragment) does not run
    # the template's top-level {% from ... import %} statements.
    macros = env.get_template("_macros.html").module
    env.globals.update({name: getattr(macros, name) for name in MACROS})
    return env


MACROS = ("input", "select", "field_error", "badge", "pager")


# --- who may call a route -----------------------------------------------------
#
# Every route declares what it needs in its ``opt``: a capability of
# core.permissions (``opt=needs(C.RANKING_READ)``), any logged-in staff
# member (``opt=ANY_STAFF``) or nobody (``opt=PUBLIC``). ``authorize`` is the
# one app-wide guard that enforces it; a route that declares nothing is refused.

C = Capability  # short name for route declarations: opt=needs(C.RANKING_READ)
_CAPABILITY = "capability"
PUBLIC: dict[str, Any] = {"public": True}
ANY_STAFF: dict[str, Any] = {"any_staff": True}


def needs(capability: Capability) -> dict[str, Any]:
    return {_CAPABILITY: capability}


def route_requirement(opt: Mapping[str, Any]) -> Capability | str | None:
    """What a route needs: a Capability, "public", "any_staff", or None (undeclared)."""
    if opt.get("public"):
        return "public"
    if opt.get("any_staff"):
        return "any_staff"
    capability = opt.get(_CAPABILITY)
    return capability if isinstance(capability, Capability) else None


async def authorize(connection: ASGIConnection[Any, Any, Any, Any], handler: BaseRouteHandler) -> None:
    """App-wide guard: log-in and the route's capability, before any parameter is read."""
    requirement = route_requirement(handler.opt)
    if requirement == "public":
        return
    actor = await current_actor(connection)
    if requirement == "any_staff":
        return
    if requirement is None:
        raise PermissionDenied(N_("Your role may not take this action."))
    if not actor.can(Capability(requirement)):
        raise PermissionDenied(
            N_("Your role may not see this page.")
            if connection.scope.get("method", "GET") in ("GET", "HEAD")
            else N_("Your role may not take this action.")
        )


ENVIRONMENTS: dict[str, Environment] = {language: build_environment(language) for language in LANGUAGES}
ENV = ENVIRONMENTS[DEFAULT_LANGUAGE]


def environment() -> Environment:
    """The templates compiled for the current request's language."""
    return ENVIRONMENTS.get(current_language.get(), ENV)


def csrf_token(request: Request[Any, Any, Any]) -> str:
    """This request's CSRF token: bound to the session, or to the anonymous form cookie."""
    state = sessions.web_state(request.scope)
    return state.csrf_token if state is not None else ""


def render(
    request: Request[Any, Any, Any],
    template_name: str,
    context: Mapping[str, Any] | None = None,
    *,
    block: str | None = None,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> Response[str]:
    """Render a whole page, or only one named block of it (an htmx fragment)."""
    token = csrf_token(request)
    full_context: dict[str, Any] = {
        "request": request,
        "csrf_token": token,
        "csrf_input": Markup('<input type="hidden" name="_csrf_token" value="{}">').format(token),
        "lang": current_language.get(),
        "actor": (actor := request.scope.get("state", {}).get("actor")),
        "can": _can_for(actor),
        "path": request.url.path,
        **(context or {}),
    }
    if block is None and "flashes" not in full_context:
        full_context["flashes"] = pop_flash(request)
    template = environment().get_template(template_name)
    if block is not None:
        block_render = template.blocks[block]
        html = "".join(block_render(template.new_context(full_context)))
    else:
        html = template.render(full_context)
    return Response(
        content=html,
        media_type="text/html; charset=utf-8",
        status_code=status_code,
        headers=dict(headers or {}),
    )


def public_base_url(request: Request[Any, Any, Any]) -> str:
    """The address the public reaches the app at, for QR codes and links that leave the page.

    RELIEF_PUBLIC_BASE_URL when set (production behind a proxy: the address on
    printed cards must not depend on who asked), else the address of this
    request, so a server started on any host or port prints codes that work."""
    configured = str(request.app.state.settings.public_base_url)
    return configured or str(request.base_url).rstrip("/")


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def htmx_target(request: Request[Any, Any, Any]) -> str:
    return request.headers.get("hx-target", "")


async def current_actor(connection: ASGIConnection[Any, Any, Any, Any]) -> Actor:
    """The logged-in staff member (loaded once by the session middleware), or a redirect to the login page."""
    state = sessions.web_state(connection.scope)
    actor = state.actor if state is not None else None
    if actor is None:
        raise NotAuthorizedException(detail="login required")
    connection.scope.setdefault("state", {})["actor"] = actor
    return actor


async def provide_actor(request: Request[Any, Any, Any]) -> Actor:
    """The ``actor`` dependency of every staff route (``authorize`` has loaded it already)."""
    return await current_actor(request)


def optional_actor(request: Request[Any, Any, Any]) -> Actor | None:
    """The logged-in staff member, if any (None on public pages, which load no session)."""
    state = sessions.web_state(request.scope)
    return state.actor if state is not None else None


@lru_cache(maxsize=8)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(n, strict=False) for n in trusted)


def _is_trusted(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in net for net in networks)


def client_address(request: Request[Any, Any, Any]) -> str:
    """The client's address, the one key of login throttling and the public rate limits.

    ``X-Forwarded-For`` counts only when the direct peer is a proxy named in
    ``RELIEF_TRUSTED_PROXIES``; then the right-most address that is not itself
    a trusted proxy is the client. Anyone else's header is ignored.
    """
    peer = request.client.host if request.client else "unknown"
    networks = _networks(tuple(request.app.state.settings.trusted_proxies))
    if not networks or not _is_trusted(peer, networks):
        return peer
    forwarded = [
        part.strip() for part in request.headers.get("x-forwarded-for", "").split(",") if part.strip()
    ]
    for address in reversed(forwarded):
        if not _is_trusted(address, networks):
            try:
                return str(ipaddress.ip_address(address))
            except ValueError:
                return peer  # garbage in the header: fall back to the proxy itself
    return peer


def login_redirect(request: Request[Any, Any, Any]) -> Redirect:
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return Redirect(f"/login?next={quote(target, safe='')}", status_code=303)


def now_of(request: Request[Any, Any, Any]) -> datetime:
    now: datetime = request.app.state.clock.now()
    return now


def form_errors(exc: DomainError) -> dict[str, str]:
    """Translated messages keyed by form field ('' for the form as a whole)."""
    if isinstance(exc, ValidationFailed):
        return {
            name: translate(err.message, **translated_params(err.params)) for name, err in exc.errors.items()
        }
    return {exc.field or "": translate(exc.message, **translated_params(exc.params))}


_CONTROL_CHARACTERS = dict.fromkeys([*range(0, 9), 11, 12, *range(14, 32), 127])


def clean_text(value: str, max_len: int = 2000) -> str:
    """Drop control characters (PostgreSQL refuses NUL) and cap the length."""
    return value[:max_len].translate(_CONTROL_CHARACTERS)


def first(form: FormMultiDict, name: str, max_len: int = 2000) -> str:
    """One form value as clean text, truncated to a sane length (oversized input loses nothing useful)."""
    value = form.get(name, "")
    return clean_text(value, max_len) if isinstance(value, str) else ""


def flash(request: Request[Any, Any, Any], message: str, category: str = "success") -> None:
    """A message for the next page, carried in a short-lived signed cookie (no database write)."""
    sessions.add_flash(request.scope, message, category)


def pop_flash(request: Request[Any, Any, Any]) -> list[dict[str, str]]:
    return sessions.take_flashes(request.scope)
