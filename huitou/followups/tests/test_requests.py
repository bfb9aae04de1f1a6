"""Customer requests: the same-day reply clock across the cut-off, weekends, holidays and make-up
working days; acknowledging and answering; the breach report and its scope."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from huitou.accounts.policy import ContactPolicy
from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed
from huitou.followups import requests as req
from huitou.followups.models import CustomerRequest
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def at(y, m, d, hh=0, mm=0, ss=0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, ss, tzinfo=SH)


def eod(y, m, d) -> dt.datetime:
    return at(y, m, d, 23, 59, 59)


# --- the clock ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("received", "due"),
    [
        # Wednesday, a working day, before 17:30: the same day.
        (at(2026, 9, 30, 10, 0), eod(2026, 9, 30)),
        (at(2026, 9, 30, 17, 29, 59), eod(2026, 9, 30)),
        # At the cut-off it is already the next working day, after the National Day week.
        (at(2026, 9, 30, 17, 30), eod(2026, 10, 8)),
        # On the holiday itself.
        (at(2026, 10, 1, 9, 0), eod(2026, 10, 8)),
        # A Friday evening: Monday.
        (at(2026, 11, 20, 18, 0), eod(2026, 11, 23)),
        # Friday evening before a make-up working Saturday (2026-10-10): that Saturday.
        (at(2026, 10, 9, 19, 0), eod(2026, 10, 10)),
        # On the make-up working Saturday, before the cut-off: the same day.
        (at(2026, 10, 10, 11, 0), eod(2026, 10, 10)),
        # A Sunday morning: Monday, even before the cut-off.
        (at(2026, 11, 22, 9, 0), eod(2026, 11, 23)),
    ],
)
def test_reply_due_at(received, due):
    assert req.reply_due_at(received, ContactPolicy(), SH) == due


def test_reply_due_reads_local_time_of_a_utc_timestamp():
    # 09:00Z is 17:00 in Shanghai (before the cut-off); 09:45Z is 17:45 (after).
    utc = dt.UTC
    assert req.reply_due_at(dt.datetime(2026, 9, 30, 9, 0, tzinfo=utc), ContactPolicy(), SH) == eod(
        2026, 9, 30
    )
    assert req.reply_due_at(dt.datetime(2026, 9, 30, 9, 45, tzinfo=utc), ContactPolicy(), SH) == eod(
        2026, 10, 8
    )


def test_reply_due_follows_the_policy_cutoff():
    policy = ContactPolicy(request_reply_cutoff="12:00")
    assert req.reply_due_at(at(2026, 11, 18, 11, 59), policy, SH) == eod(2026, 11, 18)
    assert req.reply_due_at(at(2026, 11, 18, 12, 0), policy, SH) == eod(2026, 11, 19)


# --- logging --------------------------------------------------------------------------------------


def test_log_sets_owner_clock_and_logger(org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1)
    item = req.request_log(
        actor=w.dcrc,
        customer_id=customer.pk,
        summary=" 询问保养价格 ",
        channel="call",
        received_at=at(2026, 10, 9, 19, 0),
    )
    item.refresh_from_db()
    assert item.owner_id == w.rep1.pk
    assert item.logged_by_id == w.dcrc.pk
    assert item.organisation_id == w.org.pk
    assert item.summary == "询问保养价格"
    assert item.status == CustomerRequest.Status.OPEN
    assert item.reply_due_at == eod(2026, 10, 10)
    assert item.first_reply_at is None


def test_log_without_time_starts_now(org_world, monkeypatch):
    w = org_world
    customer = CustomerFactory(owner=w.rep1)
    monkeypatch.setattr(timezone, "now", lambda: at(2026, 11, 18, 9, 15))
    item = req.request_log(actor=w.rep1, customer_id=customer.pk, summary="问题", channel="wechat")
    assert item.received_at == at(2026, 11, 18, 9, 15)
    assert item.reply_due_at == eod(2026, 11, 18)


def test_log_validation_names_fields_and_creates_nothing(org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1)
    with pytest.raises(ValidationFailed) as exc:
        req.request_log(
            actor=w.rep1,
            customer_id=customer.pk,
            summary="  ",
            channel="pigeon",
            received_at=timezone.now() + dt.timedelta(hours=2),
        )
    assert exc.value.errors == {
        "summary": ["required"],
        "channel": ["not a valid choice"],
        "received_at": ["cannot be in the future"],
    }
    assert not CustomerRequest.objects.exists()


def test_log_for_a_customer_out_of_scope_is_not_found(org_world):
    w = org_world
    theirs = CustomerFactory(owner=w.rep3)
    with pytest.raises(NotFound):
        req.request_log(actor=w.rep1, customer_id=theirs.pk, summary="x", channel="call")
    other_org = CustomerFactory(owner=w.other_owner)
    with pytest.raises(NotFound):
        req.request_log(actor=w.owner, customer_id=other_org.pk, summary="x", channel="call")
    assert not CustomerRequest.objects.exists()


def test_user_who_left_cannot_log(org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1)
    w.rep1.left_at = timezone.now()
    w.rep1.save()
    with pytest.raises(PermissionDenied):
        req.request_log(actor=w.rep1, customer_id=customer.pk, summary="x", channel="call")
    assert not CustomerRequest.objects.exists()


# --- replying -------------------------------------------------------------------------------------


def _logged(w, received=None):
    customer = CustomerFactory(owner=w.rep1)
    return req.request_log(
        actor=w.rep1,
        customer_id=customer.pk,
        summary="要发票",
        channel="call",
        received_at=received or at(2026, 11, 18, 10, 0),
    )


def test_acknowledge_stops_the_clock_and_answer_keeps_the_first_reply(org_world, monkeypatch):
    w = org_world
    item = _logged(w)
    monkeypatch.setattr(timezone, "now", lambda: at(2026, 11, 18, 16, 0))
    item = req.request_acknowledge(actor=w.rep1, request_id=item.pk, note="已告知客户正在处理")
    assert (item.status, item.first_reply_at, item.reply_note) == (
        "acknowledged",
        at(2026, 11, 18, 16, 0),
        "已告知客户正在处理",
    )
    monkeypatch.setattr(timezone, "now", lambda: at(2026, 11, 20, 9, 0))
    item = req.request_answer(actor=w.manager1, request_id=item.pk, note="发票已寄出")
    item.refresh_from_db()
    assert item.status == "answered"
    assert item.first_reply_at == at(2026, 11, 18, 16, 0)
    assert item.answered_at == at(2026, 11, 20, 9, 0)
    assert item.reply_note == "已告知客户正在处理\n发票已寄出"


def test_answer_without_acknowledging_sets_both_times(org_world, monkeypatch):
    w = org_world
    item = _logged(w)
    monkeypatch.setattr(timezone, "now", lambda: at(2026, 11, 18, 11, 0))
    item = req.request_answer(actor=w.rep1, request_id=item.pk)
    assert item.first_reply_at == item.answered_at == at(2026, 11, 18, 11, 0)


def test_answered_request_cannot_be_acknowledged_or_answered_again(org_world):
    w = org_world
    item = req.request_answer(actor=w.rep1, request_id=_logged(w).pk)
    for call in (req.request_acknowledge, req.request_answer):
        with pytest.raises(ValidationFailed) as exc:
            call(actor=w.rep1, request_id=item.pk)
        assert exc.value.errors == {"status": ["this request is already answered"]}
    stored = CustomerRequest.objects.get(pk=item.pk)
    assert (stored.status, stored.answered_at) == ("answered", item.answered_at)


def test_replying_outside_scope_is_not_found_and_changes_nothing(org_world):
    w = org_world
    item = _logged(w)
    for actor in (w.rep2, w.manager2, w.other_owner):
        with pytest.raises(NotFound):
            req.request_acknowledge(actor=actor, request_id=item.pk)
        with pytest.raises(NotFound):
            req.request_answer(actor=actor, request_id=item.pk)
    item.refresh_from_db()
    assert (item.status, item.first_reply_at) == ("open", None)


# --- the report -----------------------------------------------------------------------------------


@pytest.fixture
def october(org_world, monkeypatch):
    """rep1: in time, late, open past due, open within the clock; rep3: in time; one in September."""
    w = org_world
    c1, c3 = CustomerFactory(owner=w.rep1), CustomerFactory(owner=w.rep3)

    def log(customer, received, reply_at=None, answer=False):
        item = req.request_log(
            actor=w.owner, customer_id=customer.pk, summary="s", channel="call", received_at=received
        )
        if reply_at is not None:
            with monkeypatch.context() as m:
                m.setattr(timezone, "now", lambda: reply_at)
                (req.request_answer if answer else req.request_acknowledge)(actor=w.owner, request_id=item.pk)
        return item

    w.in_time = log(c1, at(2026, 10, 12, 9, 0), at(2026, 10, 12, 15, 0), answer=True)
    w.late = log(c1, at(2026, 10, 13, 9, 0), at(2026, 10, 14, 8, 0))
    w.past_due = log(c1, at(2026, 10, 14, 9, 0))
    w.pending = log(c1, at(2026, 10, 30, 18, 0))  # due 2026-11-02 23:59:59
    w.rep3_in_time = log(c3, at(2026, 10, 15, 20, 0), at(2026, 10, 16, 10, 0))
    log(c1, at(2026, 9, 29, 9, 0))  # outside the period
    w.now = at(2026, 11, 1, 12, 0)
    return w


def _table(rows):
    return {
        r.username: (r.received, r.replied_in_time, r.replied_late, r.open_past_due, r.pending, r.breached)
        for r in rows
    }


def test_breach_report_figures(october):
    w = october
    rows = req.request_breaches(w.owner, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31), now=w.now)
    assert _table(rows) == {"rep1": (4, 1, 1, 1, 1, 2), "rep3": (1, 1, 0, 0, 0, 0)}
    rep1 = next(r for r in rows if r.username == "rep1")
    assert rep1.in_time_rate == pytest.approx(1 / 3)


def test_breach_list_names_the_breached_requests(october):
    w = october
    ids = [
        r.pk
        for r in req.request_breach_list(
            w.owner, start=dt.date(2026, 10, 1), end=dt.date(2026, 10, 31), now=w.now
        )
    ]
    assert ids == [w.late.pk, w.past_due.pk]


def test_breach_report_is_scoped(october):
    w = october
    period = {"start": dt.date(2026, 10, 1), "end": dt.date(2026, 10, 31), "now": w.now}
    assert list(_table(req.request_breaches(w.manager1, **period))) == ["rep1"]
    assert list(_table(req.request_breaches(w.rep3, **period))) == ["rep3"]
    assert _table(req.request_breaches(w.rep2, **period)) == {}
    assert _table(req.request_breaches(w.other_owner, **period)) == {}


def test_breach_report_rejects_a_reversed_period(org_world):
    with pytest.raises(ValidationFailed) as exc:
        req.request_breaches(org_world.owner, start=dt.date(2026, 10, 2), end=dt.date(2026, 10, 1))
    assert exc.value.errors == {"end": ["must not be before the start"]}


def test_open_list_is_most_urgent_first_and_scoped(october):
    w = october
    ids = [r.pk for r in req.request_open_list(w.owner)]
    # Answered (in_time) is gone; acknowledged ones stay until answered.
    assert w.in_time.pk not in ids
    assert ids[:3] == [
        CustomerRequest.objects.filter(received_at__month=9).get().pk,
        w.late.pk,
        w.past_due.pk,
    ]
    assert w.rep3_in_time.pk in ids
    assert w.rep3_in_time.pk not in [r.pk for r in req.request_open_list(w.manager1)]
