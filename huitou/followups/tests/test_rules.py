"""Editing contact-plan rules: validation names the field, only the owner edits, versions guard edits."""

from __future__ import annotations

import pytest

from huitou.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from huitou.followups import rules
from huitou.followups.defaults import DEFAULT_RULES
from huitou.followups.models import ContactRule
from tests.factories import ContactRuleFactory, CustomerFactory, OwnedProductFactory, ProductFactory

pytestmark = pytest.mark.django_db


def base(**over):
    data = {
        "code": "gold-call",
        "name": "Call gold customers",
        "trigger": "revisit",
        "channel": "call",
        "purpose": "marketing",
        "params": {"interval_days": 60},
    }
    data.update(over)
    return data


def errors_of(call) -> dict[str, list[str]]:
    with pytest.raises(ValidationFailed) as exc:
        call()
    return exc.value.errors


# --- create ---------------------------------------------------------------------------------


def test_create_fills_the_trigger_defaults_and_stores_the_rule(org_world):
    rule = rules.rule_create(actor=org_world.owner, data=base(tiers=["gold", "gold"], priority=70))
    rule.refresh_from_db()
    assert rule.organisation_id == org_world.org.pk
    assert rule.params == {"interval_days": 60, "activity_kinds": ["visit"]}
    assert rule.tiers == ["gold"]
    assert rule.priority == 70
    assert rule.version == 1
    assert rule.active is True


def test_every_default_rule_passes_the_validation(org_world):
    rules.rules_seed(organisation=org_world.org)
    for spec in DEFAULT_RULES:
        rule = ContactRule.objects.get(organisation=org_world.org, code=spec["code"])
        # An edit that changes nothing must not be refused by the checks.
        same = rules.rule_update(actor=org_world.owner, rule_id=rule.pk, data={"name": rule.name}, version=1)
        assert same.version == 1, spec["code"]


def test_unknown_festival_is_refused_on_its_param(org_world):
    errors = errors_of(
        lambda: rules.rule_create(
            actor=org_world.owner,
            data=base(
                trigger="festival", channel="sms", template="{name}节日快乐", params={"festival": "xmas"}
            ),
        )
    )
    assert errors == {"params.festival": ["unknown festival"]}
    assert not ContactRule.objects.filter(code="gold-call").exists()


def test_festival_rule_needs_a_festival(org_world):
    errors = errors_of(
        lambda: rules.rule_create(
            actor=org_world.owner, data=base(trigger="festival", channel="sms", template="{name}", params={})
        )
    )
    assert errors == {"params.festival": ["required"]}


def test_lunar_festival_code_is_accepted(org_world):
    rule = rules.rule_create(
        actor=org_world.owner,
        data=base(
            trigger="festival", channel="sms", template="{name},{festival}快乐", params={"festival": "qixi"}
        ),
    )
    assert rule.params == {"festival": "qixi"}


@pytest.mark.parametrize(
    ("trigger", "params", "field", "message"),
    [
        ("revisit", {"interval_days": 0}, "params.interval_days", "must be a whole number greater than 0"),
        ("revisit", {"interval_days": True}, "params.interval_days", "must be a whole number greater than 0"),
        (
            "revisit",
            {"interval_days": 30, "activity_kinds": ["dance"]},
            "params.activity_kinds",
            "must be a list of activity kinds",
        ),
        ("seasonal", {"dates": ["02-30"]}, "params.dates", "not a valid MM-DD date: 02-30"),
        ("seasonal", {"dates": ["3-1"]}, "params.dates", "not a valid MM-DD date: 3-1"),
        (
            "seasonal",
            {"dates": ["03-01"], "max_purchases_365": -1},
            "params.max_purchases_365",
            "must be a whole number, 0 or more",
        ),
        ("inspection", {"ages": [6, -1]}, "params.ages", "must be a list of whole numbers greater than 0"),
        ("inspection", {"ages": "6,10"}, "params.ages", "must be a list of whole numbers greater than 0"),
        (
            "inspection",
            {"yearly_from": 16, "twice_yearly_from": 11},
            "params.twice_yearly_from",
            "must not be before yearly_from",
        ),
        ("maintenance", {"km": 5000, "months": 0}, "params.months", "must be a whole number greater than 0"),
        ("personal_date", {"kinds": ["divorce"]}, "params.kinds", "must be a list of personal-date kinds"),
        ("birthday", {"interval_days": 3}, "params.interval_days", "not a parameter of this trigger"),
    ],
)
def test_bad_params_are_named(org_world, trigger, params, field, message):
    errors = errors_of(
        lambda: rules.rule_create(actor=org_world.owner, data=base(trigger=trigger, params=params))
    )
    assert errors == {field: [message]}


def test_leap_day_is_a_valid_seasonal_date(org_world):
    rule = rules.rule_create(
        actor=org_world.owner, data=base(trigger="seasonal", params={"dates": ["02-29", "01-15", "01-15"]})
    )
    assert rule.params == {"dates": ["01-15", "02-29"], "max_purchases_365": 1}


def test_template_with_an_unknown_field_is_refused(org_world):
    errors = errors_of(
        lambda: rules.rule_create(
            actor=org_world.owner, data=base(channel="sms", template="{name},您的{plate}到期了")
        )
    )
    assert list(errors) == ["template"]
    assert errors["template"][0].startswith("unknown fields: plate")


def test_template_with_a_stray_brace_is_refused(org_world):
    errors = errors_of(
        lambda: rules.rule_create(actor=org_world.owner, data=base(channel="sms", template="{name"))
    )
    assert errors == {"template": ["unbalanced braces; write fields as {name}"]}


def test_a_message_needs_a_text(org_world):
    errors = errors_of(
        lambda: rules.rule_create(actor=org_world.owner, data=base(channel="sms", template=""))
    )
    assert errors == {"template": ["a message needs a text or an SMS template id"]}


def test_filter_lists_are_typed(org_world):
    errors = errors_of(
        lambda: rules.rule_create(
            actor=org_world.owner,
            data=base(tiers=["platinum"], customer_types=["profit", 3], customer_kinds="person", tags=[1]),
        )
    )
    assert errors == {
        "tiers": ["contains a value that is not a valid choice"],
        "customer_types": ["contains a value that is not a valid choice"],
        "customer_kinds": ["must be a list"],
        "tags": ["must be a list of texts"],
    }


def test_store_and_product_ids_must_be_of_the_same_organisation(org_world):
    w = org_world
    mine = ProductFactory(organisation=w.org)
    theirs = ProductFactory(organisation=w.other_org)
    errors = errors_of(
        lambda: rules.rule_create(
            actor=w.owner,
            data=base(store_ids=[w.s1.pk, w.other_store.pk], product_ids=[mine.pk, theirs.pk]),
        )
    )
    assert errors == {
        "store_ids": [f"not in your organisation: {w.other_store.pk}"],
        "product_ids": [f"not in your organisation: {theirs.pk}"],
    }
    rule = rules.rule_create(actor=w.owner, data=base(store_ids=[w.s1.pk], product_ids=[mine.pk]))
    assert (rule.store_ids, rule.product_ids) == ([w.s1.pk], [mine.pk])


def test_required_fields_and_choices_are_named(org_world):
    errors = errors_of(
        lambda: rules.rule_create(
            actor=org_world.owner,
            data={"code": "bad code!", "name": " ", "trigger": "", "channel": "fax", "purpose": "marketing"},
        )
    )
    assert errors == {
        "code": ["use at most 48 letters, digits, - or _"],
        "name": ["required"],
        "trigger": ["required"],
        "channel": ["not a valid choice"],
    }


def test_duplicate_code_is_refused(org_world):
    rules.rule_create(actor=org_world.owner, data=base())
    errors = errors_of(lambda: rules.rule_create(actor=org_world.owner, data=base(name="Again")))
    assert errors == {"code": ["another rule already has this code"]}
    assert ContactRule.objects.filter(code="gold-call").count() == 1


def test_offset_and_priority_ranges(org_world):
    errors = errors_of(
        lambda: rules.rule_create(actor=org_world.owner, data=base(offset_days=400, priority=101))
    )
    assert errors == {
        "offset_days": ["must be a whole number from -366 to 366"],
        "priority": ["must be a whole number from 0 to 100"],
    }


def test_unknown_field_is_refused(org_world):
    errors = errors_of(lambda: rules.rule_create(actor=org_world.owner, data=base(colour="red")))
    assert errors == {"colour": ["unknown field"]}


@pytest.mark.parametrize("who", ["manager1", "rep1", "dcrc"])
def test_only_the_owner_creates_rules(org_world, who):
    with pytest.raises(PermissionDenied):
        rules.rule_create(actor=getattr(org_world, who), data=base())
    assert not ContactRule.objects.exists()


# --- update -------------------------------------------------------------------------------------


def test_update_changes_fields_and_bumps_the_version(org_world):
    rule = rules.rule_create(actor=org_world.owner, data=base())
    rule = rules.rule_update(
        actor=org_world.owner,
        rule_id=rule.pk,
        data={"priority": 80, "params": {"interval_days": 45}},
        version=1,
    )
    rule.refresh_from_db()
    assert (rule.priority, rule.version) == (80, 2)
    assert rule.params == {"interval_days": 45, "activity_kinds": ["visit"]}


def test_stale_version_is_a_conflict_and_changes_nothing(org_world):
    rule = rules.rule_create(actor=org_world.owner, data=base())
    rules.rule_update(actor=org_world.owner, rule_id=rule.pk, data={"priority": 60}, version=1)
    with pytest.raises(Conflict):
        rules.rule_update(
            actor=org_world.owner, rule_id=rule.pk, data={"priority": 10, "name": "X"}, version=1
        )
    rule.refresh_from_db()
    assert (rule.priority, rule.name, rule.version) == (60, "Call gold customers", 2)


def test_trigger_change_checks_params_against_the_new_trigger(org_world):
    rule = rules.rule_create(actor=org_world.owner, data=base())
    errors = errors_of(
        lambda: rules.rule_update(
            actor=org_world.owner, rule_id=rule.pk, data={"trigger": "festival"}, version=1
        )
    )
    assert errors == {
        "params.interval_days": ["not a parameter of this trigger"],
        "params.activity_kinds": ["not a parameter of this trigger"],
        "params.festival": ["required"],
    }
    rule.refresh_from_db()
    assert (rule.trigger, rule.version) == ("revisit", 1)


def test_code_cannot_change(org_world):
    rule = rules.rule_create(actor=org_world.owner, data=base())
    errors = errors_of(
        lambda: rules.rule_update(actor=org_world.owner, rule_id=rule.pk, data={"code": "other"}, version=1)
    )
    assert errors == {"code": ["the code of a rule cannot change"]}


def test_manager_cannot_update_and_nothing_changes(org_world):
    rule = rules.rule_create(actor=org_world.owner, data=base())
    with pytest.raises(PermissionDenied):
        rules.rule_update(actor=org_world.manager1, rule_id=rule.pk, data={"priority": 1}, version=1)
    rule.refresh_from_db()
    assert (rule.priority, rule.version) == (50, 1)


def test_rule_of_another_organisation_is_not_found(org_world):
    theirs = ContactRuleFactory(organisation=org_world.other_org)
    with pytest.raises(NotFound):
        rules.rule_update(actor=org_world.owner, rule_id=theirs.pk, data={"priority": 1}, version=1)
    with pytest.raises(NotFound):
        rules.rule_get(org_world.owner, theirs.pk)
    theirs.refresh_from_db()
    assert theirs.priority == 50


def test_set_active_toggles_and_versions(org_world):
    rule = rules.rule_create(actor=org_world.owner, data=base())
    rule = rules.rule_set_active(actor=org_world.owner, rule_id=rule.pk, active=False, version=1)
    assert (rule.active, rule.version) == (False, 2)
    with pytest.raises(Conflict):
        rules.rule_set_active(actor=org_world.owner, rule_id=rule.pk, active=True, version=1)
    with pytest.raises(PermissionDenied):
        rules.rule_set_active(actor=org_world.manager1, rule_id=rule.pk, active=True)
    rule.refresh_from_db()
    assert (rule.active, rule.version) == (False, 2)


def test_reset_defaults_restores_seeded_rules_and_keeps_own_rules(org_world):
    w = org_world
    rules.rules_seed(organisation=w.org)
    seeded = ContactRule.objects.get(organisation=w.org, code="birthday-card")
    rules.rule_update(actor=w.owner, rule_id=seeded.pk, data={"priority": 5, "active": False}, version=1)
    ContactRule.objects.filter(organisation=w.org, code="gold-visit").delete()
    own = rules.rule_create(actor=w.owner, data=base(priority=33))
    assert rules.rules_reset_defaults(actor=w.owner) == 2
    seeded.refresh_from_db()
    own.refresh_from_db()
    assert (seeded.priority, seeded.active, seeded.version) == (70, True, 3)
    assert ContactRule.objects.filter(organisation=w.org, code="gold-visit").exists()
    assert own.priority == 33


# --- reading ------------------------------------------------------------------------------------


def test_manager_reads_rep_cannot(org_world):
    ContactRuleFactory(organisation=org_world.org, code="a")
    ContactRuleFactory(organisation=org_world.other_org, code="b")
    assert [r.code for r in rules.rule_list(org_world.manager1)] == ["a"]
    with pytest.raises(PermissionDenied):
        rules.rule_list(org_world.rep1)


def test_grouped_follows_the_trigger_order(org_world):
    ContactRuleFactory(organisation=org_world.org, code="x", trigger="birthday", priority=10)
    ContactRuleFactory(organisation=org_world.org, code="y", trigger="birthday", priority=90)
    ContactRuleFactory(organisation=org_world.org, code="z", trigger="order_placed")
    groups = rules.rules_grouped(org_world.owner)
    assert [(t, [r.code for r in items]) for t, _label, items in groups] == [
        ("order_placed", ["z"]),
        ("birthday", ["y", "x"]),
    ]


def test_preview_fills_a_sample_and_a_real_customer(org_world):
    w = org_world
    made_up = rules.rule_preview(
        w.owner, template="{name}您好,{store}祝您{festival}快乐", params={"festival": "mid_autumn"}
    )
    assert made_up["text"] == "张先生您好,示例店祝您中秋节快乐"
    assert made_up["problems"] == []
    customer = CustomerFactory(owner=w.rep1, name="王芳")
    OwnedProductFactory(customer=customer, description="凯美瑞")
    real = rules.rule_preview(w.manager1, template="{name}:{product} {oops}", customer_id=customer.pk)
    assert real["text"] == "王芳:凯美瑞 "
    assert real["problems"] == ["unknown fields: oops"]
    other = CustomerFactory(owner=w.rep3)
    with pytest.raises(NotFound):
        rules.rule_preview(w.rep1, template="{name}", customer_id=other.pk)


def test_default_rules_are_seeded_in_the_sites_language_whatever_language_is_active(org_world):
    from django.utils import translation

    from huitou.followups.models import ContactRule

    ContactRule.objects.filter(organisation=org_world.org).delete()
    with translation.override("en"):
        rules.rules_seed(organisation=org_world.org)

    assert ContactRule.objects.get(organisation=org_world.org, code="birthday-card").name == "生日贺卡"
