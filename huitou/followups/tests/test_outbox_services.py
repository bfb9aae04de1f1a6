"""Queueing, cancelling and retrying outbox messages: addresses, consent, quiet hours, idempotency,
permissions."""

from __future__ import annotations

import datetime as dt

import pytest

from huitou.core.errors import Conflict, NotFound, ValidationFailed
from huitou.followups.models import Message
from huitou.followups.outbox import services
from tests.factories import ContactRuleFactory, MessageFactory

from .test_outbox_support import (
    SHANGHAI,
    at,
    customer_of,
    grant,
    no_quiet_hours,
    outbox_conf,
    queue,
    sms_lines,
)

__all__ = ["no_quiet_hours", "outbox_conf"]
pytestmark = pytest.mark.django_db


# --- message_queue: addresses -----------------------------------------------------------------


def test_sms_goes_to_the_customers_mobile(org_world):
    c = customer_of(org_world.rep1, phone="+8613800138000")
    m = queue(c, channel="sms", purpose="service")
    assert (m.status, m.to, m.channel, m.last_error) == ("queued", "+8613800138000", "sms", "")
    assert m.scheduled_for == at(10)


def test_email_goes_to_the_customers_address(org_world):
    c = customer_of(org_world.rep1, email=" zhang@example.cn ")
    m = queue(c, channel="email", purpose="transactional", subject="订单确认")
    assert (m.status, m.to, m.subject) == ("queued", "zhang@example.cn", "订单确认")


def test_letter_goes_to_the_postal_address_without_repeating_parts(org_world):
    c = customer_of(org_world.rep1, province="广东省", city="广州市", address="广州市天河路1号")
    m = queue(c, channel="letter", purpose="service")
    assert m.to == "广东省广州市天河路1号"


def test_customer_without_a_phone_gives_a_failed_message_saying_why(org_world):
    c = customer_of(org_world.rep1, phone="")
    m = queue(c, channel="sms")
    assert (m.status, m.to, m.last_error) == ("failed", "", "no mobile phone number")


# --- consent ----------------------------------------------------------------------------------


def test_marketing_without_consent_is_stored_suppressed_with_the_reason(org_world):
    c = customer_of(org_world.rep1)
    m = queue(c, purpose="marketing")
    assert (m.status, m.last_error) == ("suppressed", "no marketing consent for sms")


def test_marketing_after_an_opt_out_is_suppressed_as_opted_out(org_world):
    c = customer_of(org_world.rep1)
    grant(c, "sms", granted=False)
    m = queue(c, purpose="marketing")
    assert (m.status, m.last_error) == ("suppressed", "opted out of sms")


def test_marketing_with_consent_for_the_channel_is_queued(org_world):
    c = customer_of(org_world.rep1)
    grant(c, "sms")
    assert queue(c, purpose="marketing").status == "queued"
    # An SMS consent says nothing about e-mail.
    c.email = "a@example.cn"
    c.save()
    assert queue(c, channel="email", purpose="marketing").status == "suppressed"


def test_a_card_needs_the_letter_consent(org_world):
    c = customer_of(org_world.rep1, address="天河路1号")
    assert queue(c, channel="card", purpose="marketing").last_error == "no marketing consent for letter"
    grant(c, "letter")
    assert queue(c, channel="card", purpose="marketing").status == "queued"


@pytest.mark.parametrize("purpose", ["service", "transactional"])
def test_service_and_transactional_go_without_consent(org_world, purpose):
    c = customer_of(org_world.rep1)
    grant(c, "sms", granted=False)
    assert queue(c, purpose=purpose).status == "queued"


# --- quiet hours --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("planned", "expected"),
    [
        (at(22, 30), at(8, 30, day=24)),  # after 21:00: next morning
        (at(7, 0), at(8, 30)),  # before 08:30: the same morning
        (at(12, 0), at(12, 0)),
        (at(20, 59), at(20, 59)),
    ],
)
def test_quiet_hours_shift_sms(org_world, planned, expected):
    c = customer_of(org_world.rep1)
    assert queue(c, scheduled_for=planned).scheduled_for == expected


def test_quiet_hours_follow_the_organisation_policy(org_world):
    org = org_world.org
    org.policy_data = {"contact": {"quiet_start": "20:00", "quiet_end": "09:00"}}
    org.save()
    c = customer_of(org_world.rep1)
    assert queue(c, scheduled_for=at(20, 15)).scheduled_for == at(9, 0, day=24)


def test_letters_are_not_moved_by_quiet_hours(org_world):
    c = customer_of(org_world.rep1, address="天河路1号")
    assert queue(c, channel="letter", scheduled_for=at(22, 30)).scheduled_for == at(22, 30)


# --- idempotency ------------------------------------------------------------------------------


def test_the_same_idempotency_key_returns_the_existing_message(org_world):
    c = customer_of(org_world.rep1)
    first = queue(c, idempotency_key="order-77-thanks", body="谢谢惠顾")
    second = queue(c, idempotency_key="order-77-thanks", body="另一段文字")
    assert second.pk == first.pk
    assert Message.objects.filter(customer=c).count() == 1
    assert Message.objects.get(pk=first.pk).body == "谢谢惠顾"


def test_the_same_rule_and_occurrence_returns_the_existing_message(org_world):
    c = customer_of(org_world.rep1)
    rule = ContactRuleFactory(
        organisation=org_world.org, channel="sms", sms_template_code="SMS_900", priority=70
    )
    first = queue(c, rule=rule, occurrence="2026-11-23")
    # Even under another key (e.g. the plan's own bulk insert used a different one).
    again = queue(c, rule=rule, occurrence="2026-11-23", idempotency_key="someone-else")
    assert again.pk == first.pk
    assert (first.template_code, first.priority) == ("SMS_900", 70)
    assert Message.objects.filter(customer=c).count() == 1


def test_wrong_organisation_is_refused_and_nothing_is_stored(org_world):
    c = customer_of(org_world.rep1)
    with pytest.raises(ValidationFailed) as exc:
        services.message_queue(
            organisation=org_world.other_org, customer=c, channel="sms", purpose="service", body="x"
        )
    assert exc.value.errors == {"customer": ["not in this organisation"]}
    assert not Message.objects.exists()


def test_task_channels_are_refused(org_world):
    c = customer_of(org_world.rep1)
    with pytest.raises(ValidationFailed) as exc:
        queue(c, channel="call")
    assert list(exc.value.errors) == ["channel"]
    assert not Message.objects.exists()


def test_created_by_outside_the_scope_is_not_found(org_world):
    c = customer_of(org_world.rep1)
    with pytest.raises(NotFound):
        queue(c, created_by=org_world.rep2)
    assert not Message.objects.exists()
    assert queue(c, created_by=org_world.manager1).created_by == org_world.manager1


def test_a_due_message_is_sent_as_soon_as_the_transaction_commits(
    org_world, outbox_conf, no_quiet_hours, django_capture_on_commit_callbacks
):
    c = customer_of(org_world.rep1, phone="+8613800138000")
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        m = queue(c, scheduled_for=dt.datetime.now(tz=SHANGHAI) - dt.timedelta(minutes=1))
    assert len(callbacks) == 1
    m.refresh_from_db()
    assert (m.status, m.provider, m.attempts) == ("sent", "file", 1)
    assert [line["phone"] for line in sms_lines(outbox_conf)] == ["+8613800138000"]


def test_a_future_message_is_not_sent_at_commit(org_world, outbox_conf, django_capture_on_commit_callbacks):
    c = customer_of(org_world.rep1)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        queue(c, scheduled_for=dt.datetime.now(tz=SHANGHAI) + dt.timedelta(days=2))
    assert callbacks == []


# --- cancel -----------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["owner", "manager1", "dcrc", "rep1"])
def test_who_may_cancel_a_queued_message(org_world, role):
    m = MessageFactory(customer=customer_of(org_world.rep1))
    cancelled = services.message_cancel(actor=getattr(org_world, role), message_id=m.pk)
    assert cancelled.status == "cancelled"
    assert Message.objects.get(pk=m.pk).status == "cancelled"


@pytest.mark.parametrize("role", ["rep2", "rep3", "manager2", "aftersales", "other_owner"])
def test_others_cannot_cancel_and_learn_nothing(org_world, role):
    # manager2 runs store 2; rep1's customer is in store 1. After-sales has no outbox.
    m = MessageFactory(customer=customer_of(org_world.rep1))
    with pytest.raises(NotFound):
        services.message_cancel(actor=getattr(org_world, role), message_id=m.pk)
    assert Message.objects.get(pk=m.pk).status == "queued"


def test_cancel_twice_is_harmless_and_a_failed_message_can_be_cancelled(org_world):
    m = MessageFactory(customer=customer_of(org_world.rep1), status="failed")
    services.message_cancel(actor=org_world.owner, message_id=m.pk)
    assert services.message_cancel(actor=org_world.owner, message_id=m.pk).status == "cancelled"


@pytest.mark.parametrize(
    ("status", "error"), [("sent", ValidationFailed), ("delivered", ValidationFailed), ("sending", Conflict)]
)
def test_a_message_on_its_way_cannot_be_cancelled(org_world, status, error):
    m = MessageFactory(customer=customer_of(org_world.rep1), status=status)
    with pytest.raises(error):
        services.message_cancel(actor=org_world.owner, message_id=m.pk)
    assert Message.objects.get(pk=m.pk).status == status


# --- retry ------------------------------------------------------------------------------------


def test_retry_puts_a_failed_message_back_with_a_fresh_count(org_world):
    c = customer_of(org_world.rep1, phone="+8613800138001")
    m = MessageFactory(
        customer=c,
        purpose="service",
        status="failed",
        attempts=4,
        last_error="timeout",
        to="",
        next_attempt_at=at(9),
    )
    again = services.message_retry(actor=org_world.rep1, message_id=m.pk)
    assert (again.status, again.attempts, again.next_attempt_at, again.last_error, again.to) == (
        "queued",
        0,
        None,
        "",
        "+8613800138001",
    )


def test_retry_of_marketing_without_consent_suppresses_it(org_world):
    c = customer_of(org_world.rep1)
    grant(c, "sms", granted=False)
    m = MessageFactory(customer=c, purpose="marketing", status="failed")
    assert services.message_retry(actor=org_world.owner, message_id=m.pk).status == "suppressed"
    assert Message.objects.get(pk=m.pk).last_error == "opted out of sms"


@pytest.mark.parametrize("status", ["queued", "sent", "cancelled", "suppressed"])
def test_only_failed_messages_are_retried(org_world, status):
    m = MessageFactory(customer=customer_of(org_world.rep1), status=status, attempts=2)
    with pytest.raises(ValidationFailed):
        services.message_retry(actor=org_world.owner, message_id=m.pk)
    assert Message.objects.get(pk=m.pk).status == status


def test_a_rep_cannot_retry_another_reps_message(org_world):
    m = MessageFactory(customer=customer_of(org_world.rep2), status="failed", attempts=3)
    with pytest.raises(NotFound):
        services.message_retry(actor=org_world.rep1, message_id=m.pk)
    m.refresh_from_db()
    assert (m.status, m.attempts) == ("failed", 3)
