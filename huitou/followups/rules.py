"""Contact-plan rules: seeding the defaults, validating and saving edits, and reading them."""

from __future__ import annotations

import copy
import datetime as dt
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone, translation

from huitou.accounts import permissions
from huitou.accounts.models import Organisation
from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed

from . import pace
from .defaults import DEFAULT_RULES, TRIGGER_PARAMS
from .models import MESSAGE_CHANNELS, Assignee, Channel, ContactRule, Purpose, Trigger

if TYPE_CHECKING:
    from huitou.accounts.models import User

# Rules about cars make no sense for a distributor or a shop; they are seeded only for dealers.
CAR_TRIGGERS = frozenset({Trigger.FIRST_SERVICE, Trigger.MAINTENANCE, Trigger.INSURANCE, Trigger.INSPECTION})


def seeded(spec: dict[str, Any]) -> dict[str, Any]:
    """A default rule's fields as stored. Rules are the organisation's own data: seeded in the
    site's language (Chinese by default), then edited freely, so the name is translated once here."""
    with translation.override(settings.LANGUAGE_CODE):
        return {**copy.deepcopy(spec), "name": str(translation.gettext(spec["name"]))}


@transaction.atomic
def rules_seed(*, organisation: Organisation) -> int:
    """Create the default rules this organisation does not have yet (by code). Returns how many."""
    have = set(ContactRule.objects.filter(organisation=organisation).values_list("code", flat=True))
    new = []
    for spec in DEFAULT_RULES:
        if spec["code"] in have:
            continue
        if organisation.kind != Organisation.Kind.DEALER and spec["trigger"] in CAR_TRIGGERS:
            continue
        new.append(ContactRule(organisation=organisation, **seeded(spec)))
    ContactRule.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)


# ---------------------------------------------------------------------------------------------
# Editing rules. Only the owner edits; managers read (DOMAIN §9). Every error names its field;
# errors inside ``params`` are named ``params.<key>`` so a form or API client can point at it.

RULE_FIELDS = (
    "code",
    "name",
    "description",
    "active",
    "trigger",
    "offset_days",
    "params",
    "channel",
    "purpose",
    "priority",
    "assignee",
    "template",
    "sms_template_code",
    "script",
    "tiers",
    "customer_types",
    "customer_kinds",
    "store_ids",
    "product_ids",
    "product_categories",
    "tags",
)
LIST_FIELDS = (
    "tiers",
    "customer_types",
    "customer_kinds",
    "store_ids",
    "product_ids",
    "product_categories",
    "tags",
)
OFFSET_LIMIT = 366
PRIORITY_MAX = 100
_MM_DD = re.compile(r"^(\d\d)-(\d\d)$")


def can_read_rules(user: User) -> bool:
    return permissions.is_active_member(user) and user.role in {permissions.OWNER, permissions.MANAGER}


def can_edit_rules(user: User) -> bool:
    return permissions.is_active_member(user) and user.role == permissions.OWNER


def festival_codes() -> dict[str, str]:
    """Festival code → its name in the active language, from the calendar module (imported here,
    not at load time, so seeding and reading rules never depend on it)."""
    from django.utils.translation import get_language

    from .calendar import FESTIVALS, festival_name

    lang = get_language() or "zh-hans"
    return {code: festival_name(code, lang) for code in FESTIVALS}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive_int(value: Any) -> bool:
    return _is_int(value) and value > 0


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def rule_params_clean(trigger: str, params: Any) -> dict[str, Any]:
    """The params a rule of ``trigger`` keeps: known keys only, defaults filled in, each value checked.

    Raises ``ValidationFailed`` with ``params.<key>`` (or ``params``) errors.
    """
    errors: dict[str, list[str]] = {}
    if params is None:
        params = {}
    if not isinstance(params, dict):
        raise ValidationFailed({"params": ["must be an object"]})
    known = TRIGGER_PARAMS.get(trigger, {})
    for key in sorted(set(params) - set(known)):
        errors.setdefault(f"params.{key}", []).append("not a parameter of this trigger")
    cleaned: dict[str, Any] = {}
    for key, default in known.items():
        if key not in params:
            if trigger == Trigger.FESTIVAL and key == "festival":
                errors.setdefault("params.festival", []).append("required")
                continue
            cleaned[key] = copy.deepcopy(default)
            continue
        value = params[key]
        problem = _param_problem(trigger, key, value)
        if problem:
            errors.setdefault(f"params.{key}", []).append(problem)
        else:
            cleaned[key] = _param_normalise(key, value)
    if not errors and trigger == Trigger.INSPECTION and cleaned["twice_yearly_from"] < cleaned["yearly_from"]:
        errors["params.twice_yearly_from"] = ["must not be before yearly_from"]
    if errors:
        raise ValidationFailed(errors)
    return cleaned


def _param_problem(trigger: str, key: str, value: Any) -> str:
    """The message for a bad value, or "" when it is fine."""
    if key == "festival":
        if not isinstance(value, str) or value not in festival_codes():
            return "unknown festival"
    elif key in {"interval_days", "km", "months", "yearly_from", "twice_yearly_from"}:
        if not _positive_int(value):
            return "must be a whole number greater than 0"
    elif key == "max_purchases_365":
        if not _is_int(value) or value < 0:
            return "must be a whole number, 0 or more"
    elif key == "ages":
        if not isinstance(value, list) or not value or not all(_positive_int(v) for v in value):
            return "must be a list of whole numbers greater than 0"
    elif key == "dates":
        if not _str_list(value) or not value:
            return "must be a list of MM-DD dates"
        for text in value:
            if not _valid_mm_dd(text):
                return f"not a valid MM-DD date: {text}"
    elif key == "activity_kinds":
        from huitou.customers.models import Activity

        if not _str_list(value) or not value or not set(value) <= set(Activity.Kind.values):
            return "must be a list of activity kinds"
    elif key == "kinds":
        from huitou.customers.models import PersonalDate

        if not _str_list(value) or not set(value) <= set(PersonalDate.Kind.values):
            return "must be a list of personal-date kinds"
    return ""


def _valid_mm_dd(text: str) -> bool:
    match = _MM_DD.match(text)
    if not match:
        return False
    try:
        dt.date(2000, int(match[1]), int(match[2]))  # a leap year: 02-29 is a real day
    except ValueError:
        return False
    return True


def _param_normalise(key: str, value: Any) -> Any:
    if key in {"dates", "ages", "activity_kinds", "kinds"}:
        return sorted(set(value))
    return value


def _dedupe(values: list[Any]) -> list[Any]:
    return list(dict.fromkeys(values))


def _clean_rule(
    data: dict[str, Any], *, organisation_id: int, instance: ContactRule | None
) -> dict[str, Any]:
    """Validate the fields of ``data`` (merged over ``instance``); returns the values to store."""
    from huitou.accounts.models import Store
    from huitou.customers.models import Customer, Product

    errors: dict[str, list[str]] = {}

    def err(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    unknown = set(data) - set(RULE_FIELDS)
    for field in sorted(unknown):
        err(field, "unknown field")
    merged: dict[str, Any] = {}
    for field in RULE_FIELDS:
        if field in data:
            merged[field] = data[field]
        elif instance is not None:
            merged[field] = copy.deepcopy(getattr(instance, field))
        else:
            merged[field] = copy.deepcopy(_CREATE_DEFAULTS.get(field))
    out: dict[str, Any] = {}

    code = merged["code"]
    if instance is None:
        code = (code or "").strip() if isinstance(code, str) else code
        if not isinstance(code, str) or not code:
            err("code", "required")
        elif len(code) > 48 or not _SLUG.match(code):
            err("code", "use at most 48 letters, digits, - or _")
        elif ContactRule.objects.filter(organisation_id=organisation_id, code=code).exists():
            err("code", "another rule already has this code")
    elif code != instance.code:
        err("code", "the code of a rule cannot change")
    out["code"] = code

    name = merged["name"]
    name = name.strip() if isinstance(name, str) else name
    if not isinstance(name, str) or not name:
        err("name", "required")
    elif len(name) > 120:
        err("name", "at most 120 characters")
    out["name"] = name

    for field, limit in (
        ("description", None),
        ("script", None),
        ("template", None),
        ("sms_template_code", 64),
    ):
        value = merged[field] if merged[field] is not None else ""
        if not isinstance(value, str):
            err(field, "must be text")
        elif limit and len(value) > limit:
            err(field, f"at most {limit} characters")
        out[field] = value.strip() if isinstance(value, str) and field == "sms_template_code" else value

    if not isinstance(merged["active"], bool):
        err("active", "must be true or false")
    out["active"] = merged["active"]

    for field, choices in (
        ("trigger", Trigger.values),
        ("channel", Channel.values),
        ("purpose", Purpose.values),
        ("assignee", Assignee.values),
    ):
        if merged[field] in (None, ""):
            err(field, "required")
        elif merged[field] not in choices:
            err(field, "not a valid choice")
        out[field] = merged[field]

    offset = merged["offset_days"]
    if not _is_int(offset) or not -OFFSET_LIMIT <= offset <= OFFSET_LIMIT:
        err("offset_days", f"must be a whole number from -{OFFSET_LIMIT} to {OFFSET_LIMIT}")
    out["offset_days"] = offset
    priority = merged["priority"]
    if not _is_int(priority) or not 0 <= priority <= PRIORITY_MAX:
        err("priority", f"must be a whole number from 0 to {PRIORITY_MAX}")
    out["priority"] = priority

    if out["trigger"] in Trigger.values:
        try:
            out["params"] = rule_params_clean(out["trigger"], merged["params"])
        except ValidationFailed as exc:
            for field, messages in exc.errors.items():
                errors.setdefault(field, []).extend(messages)

    template = out.get("template")
    if isinstance(template, str) and template:
        fields = pace.template_fields(template)
        if "{" in fields:
            err("template", "unbalanced braces; write fields as {name}")
        else:
            bad = sorted({f for f in fields if f not in pace.TEMPLATE_FIELDS})
            if bad:
                err(
                    "template",
                    "unknown fields: " + ", ".join(bad) + "; use " + ", ".join(pace.TEMPLATE_FIELDS),
                )
    if out.get("channel") in MESSAGE_CHANNELS and not (out.get("template") or out.get("sms_template_code")):
        err("template", "a message needs a text or an SMS template id")
    if (
        out.get("channel") not in MESSAGE_CHANNELS
        and out.get("channel") in Channel.values
        and out.get("sms_template_code")
    ):
        err("sms_template_code", "only messages (SMS) use an SMS template id")
    if out.get("assignee") != Assignee.OWNER and out.get("channel") in MESSAGE_CHANNELS:
        err("assignee", "messages go out through the outbox; only tasks are assigned")

    typed_choices = {
        "tiers": Customer.Tier.values,
        "customer_types": Customer.Type.values,
        "customer_kinds": Customer.Kind.values,
    }
    for field in LIST_FIELDS:
        value = merged[field] if merged[field] is not None else []
        if not isinstance(value, list):
            err(field, "must be a list")
            continue
        if field in typed_choices:
            if not _str_list(value) or not set(value) <= set(typed_choices[field]):
                err(field, "contains a value that is not a valid choice")
                continue
        elif field in {"store_ids", "product_ids"}:
            if not all(_positive_int(v) for v in value):
                err(field, "must be a list of ids")
                continue
            model = Store if field == "store_ids" else Product
            found = set(
                model.objects.filter(organisation_id=organisation_id, pk__in=value).values_list(
                    "pk", flat=True
                )
            )
            missing = sorted(set(value) - found)
            if missing:
                err(field, "not in your organisation: " + ", ".join(str(m) for m in missing))
                continue
        else:  # free text: categories, tags
            if not _str_list(value):
                err(field, "must be a list of texts")
                continue
            value = [v.strip() for v in value if v.strip()]
            limit = 64 if field == "product_categories" else 40
            if any(len(v) > limit for v in value):
                err(field, f"each at most {limit} characters")
                continue
        out[field] = _dedupe(value)

    if errors:
        raise ValidationFailed(errors)
    return out


_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")
_CREATE_DEFAULTS: dict[str, Any] = {
    "description": "",
    "active": True,
    "offset_days": 0,
    "params": {},
    "priority": 50,
    "assignee": Assignee.OWNER,
    "template": "",
    "sms_template_code": "",
    "script": "",
    **{f: [] for f in LIST_FIELDS},
}


def _require_editor(actor: User) -> None:
    if not can_edit_rules(actor):
        raise PermissionDenied("only the owner edits the contact plan")


def _locked_rule(actor: User, rule_id: int) -> ContactRule:
    try:
        return ContactRule.objects.select_for_update().get(
            pk=rule_id, organisation_id=permissions.org_id(actor)
        )
    except (ContactRule.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("rule") from exc


@transaction.atomic
def rule_create(*, actor: User, data: dict[str, Any]) -> ContactRule:
    _require_editor(actor)
    org = permissions.org_id(actor)
    fields = _clean_rule(data, organisation_id=org, instance=None)
    try:
        with transaction.atomic():
            return ContactRule.objects.create(organisation_id=org, **fields)
    except IntegrityError as exc:  # the same code created at the same moment
        raise ValidationFailed({"code": ["another rule already has this code"]}) from exc


@transaction.atomic
def rule_update(*, actor: User, rule_id: int, data: dict[str, Any], version: int) -> ContactRule:
    """Change the given fields. ``version`` is the one the editor read; a newer one → ``Conflict``."""
    if not permissions.is_active_member(actor):
        raise NotFound("rule")
    rule = _locked_rule(actor, rule_id)
    _require_editor(actor)
    if version != rule.version:
        raise Conflict("this rule was changed by someone else; reload and try again")
    fields = _clean_rule(data, organisation_id=rule.organisation_id, instance=rule)
    changed = [f for f, v in fields.items() if getattr(rule, f) != v]
    if not changed:
        return rule
    for f in changed:
        setattr(rule, f, fields[f])
    rule.version += 1  # the row is locked
    rule.save(update_fields=[*changed, "version", "updated_at"])
    return rule


@transaction.atomic
def rule_set_active(*, actor: User, rule_id: int, active: bool, version: int | None = None) -> ContactRule:
    if not permissions.is_active_member(actor):
        raise NotFound("rule")
    rule = _locked_rule(actor, rule_id)
    _require_editor(actor)
    if version is not None and version != rule.version:
        raise Conflict("this rule was changed by someone else; reload and try again")
    if rule.active != active:
        rule.active = active
        rule.version += 1
        rule.save(update_fields=["active", "version", "updated_at"])
    return rule


@transaction.atomic
def rules_reset_defaults(*, actor: User, codes: list[str] | None = None) -> int:
    """Put the seeded rules (all, or those ``codes``) back to their defaults and add missing ones.
    Rules the organisation added itself are left alone. Returns how many rules changed or were added."""
    _require_editor(actor)
    org = Organisation.objects.get(pk=permissions.org_id(actor))
    wanted = set(codes) if codes is not None else None
    specs = {
        s["code"]: s
        for s in DEFAULT_RULES
        if (wanted is None or s["code"] in wanted)
        and (org.kind == Organisation.Kind.DEALER or s["trigger"] not in CAR_TRIGGERS)
    }
    touched = 0
    for rule in ContactRule.objects.select_for_update().filter(organisation=org, code__in=list(specs)):
        spec = {**_CREATE_DEFAULTS, **seeded(specs.pop(rule.code))}
        changed = [f for f in RULE_FIELDS if f != "code" and getattr(rule, f) != spec.get(f)]
        if changed:
            for f in changed:
                setattr(rule, f, copy.deepcopy(spec.get(f)))
            rule.version += 1
            rule.save(update_fields=[*changed, "version", "updated_at"])
            touched += 1
    if specs:
        ContactRule.objects.bulk_create(
            [ContactRule(organisation=org, **seeded(s)) for s in specs.values()], ignore_conflicts=True
        )
        touched += len(specs)
    return touched


# ---------------------------------------------------------------------------------------------
# Reading rules.


def rule_queryset(viewer: User) -> QuerySet[ContactRule]:
    if not can_read_rules(viewer):
        raise PermissionDenied("only the owner and managers see the contact-plan rules")
    return ContactRule.objects.filter(organisation_id=permissions.org_id(viewer))


def rule_list(viewer: User, *, trigger: str = "", active: bool | None = None) -> list[ContactRule]:
    qs = rule_queryset(viewer)
    if trigger:
        qs = qs.filter(trigger=trigger)
    if active is not None:
        qs = qs.filter(active=active)
    return list(qs.order_by("trigger", "-priority", "code"))


def rule_get(viewer: User, rule_id: int) -> ContactRule:
    try:
        return rule_queryset(viewer).get(pk=rule_id)
    except (ContactRule.DoesNotExist, ValueError, TypeError) as exc:
        raise NotFound("rule") from exc


def rules_grouped(viewer: User) -> list[tuple[str, str, list[ContactRule]]]:
    """(trigger, its label, rules) in the order of ``Trigger``, skipping triggers without rules."""
    by_trigger: dict[str, list[ContactRule]] = {}
    for rule in rule_list(viewer):
        by_trigger.setdefault(rule.trigger, []).append(rule)
    return [(value, str(label), by_trigger[value]) for value, label in Trigger.choices if value in by_trigger]


SAMPLE_CONTEXT = {
    "name": "张先生",
    "product": "示例车型",
    "store": "示例店",
    "rep": "李顾问",
    "festival": "春节",
    "occasion": "结婚纪念日",
    "notice": "保养价格自下月起调整。",
}


def rule_preview(
    viewer: User, *, template: str, params: Mapping[str, Any] | None = None, customer_id: int | None = None
) -> dict[str, Any]:
    """The template filled for a sample customer (one of the viewer's, or a made-up one), and the
    problems the editor would refuse. Nothing is written."""
    context: dict[str, Any] = dict(SAMPLE_CONTEXT)
    context["date"] = (timezone.localdate() + dt.timedelta(days=7)).isoformat()
    if params and isinstance(params.get("festival"), str):
        context["festival"] = festival_codes().get(params["festival"], context["festival"])
    sample = None
    if customer_id is not None:
        from huitou.customers.selectors import customer_get

        sample = customer_get(viewer, customer_id)
        context["name"] = sample.name
        context["store"] = sample.store.name if sample.store else ""
        context["rep"] = sample.owner.label if sample.owner else ""
        owned = sample.owned_products.select_related("product").order_by("-delivered_on", "-id").first()
        if owned is not None:
            context["product"] = owned.product.name if owned.product else owned.description
    fields = pace.template_fields(template)
    problems: list[str] = []
    if "{" in fields:
        problems.append("unbalanced braces; write fields as {name}")
    else:
        bad = sorted({f for f in fields if f not in pace.TEMPLATE_FIELDS})
        if bad:
            problems.append("unknown fields: " + ", ".join(bad))
    return {
        "text": pace.render_template(template, context),
        "problems": problems,
        "customer": sample,
        "length": len(pace.render_template(template, context)),
    }
