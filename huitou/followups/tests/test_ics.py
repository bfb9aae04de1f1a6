"""The ICS feed: signed token, no login, open tasks of the next 60 days with stable UIDs."""

from __future__ import annotations

import datetime as dt

import pytest
from django.core import signing
from django.urls import reverse
from django.utils import timezone
from icalendar import Calendar

from huitou.followups import ics
from huitou.followups.models import Channel
from tests.factories import CustomerFactory, TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(org_world):
    w = org_world
    w.today = timezone.localdate()
    w.zhang = CustomerFactory(
        owner=w.rep1, name="张伟", phone="+8613812345678", city="广州", address="天河路1号"
    )
    w.at = timezone.make_aware(dt.datetime.combine(w.today + dt.timedelta(days=2), dt.time(15, 30)))
    w.timed = TaskFactory(
        customer=w.zhang, kind=Channel.VISIT, title="上门", due_on=w.at.date(), due_at=w.at, script="带礼品"
    )
    w.allday = TaskFactory(customer=w.zhang, kind=Channel.CALL, title="回访", due_on=w.today)
    w.last_day = TaskFactory(customer=w.zhang, title="第59天", due_on=w.today + dt.timedelta(days=59))
    TaskFactory(customer=w.zhang, title="太远", due_on=w.today + dt.timedelta(days=60))
    TaskFactory(customer=w.zhang, title="逾期", due_on=w.today - dt.timedelta(days=1))
    TaskFactory(customer=w.zhang, title="已完成", due_on=w.today, status="done")
    TaskFactory(customer=CustomerFactory(owner=w.rep2), title="别人的", due_on=w.today)
    return w


def feed(client, token: str):
    return client.get(reverse("followups:ics", args=[token]), headers={"Accept-Language": "en"})


def events(response) -> dict[str, object]:
    cal = Calendar.from_ical(response.content)
    return {str(e["uid"]): e for e in cal.walk("VEVENT")}


def test_token_is_a_signature_of_the_user_id(w):
    token = ics.ics_token(w.rep1)
    assert signing.Signer(salt="followups.ics").unsign(token) == str(w.rep1.pk)
    assert ics.ics_user(token) == w.rep1


def test_feed_needs_no_login_and_holds_the_next_60_days_of_open_tasks(client, w):
    response = feed(client, ics.ics_token(w.rep1))
    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    found = events(response)
    assert sorted(found) == sorted(f"task-{t.pk}@huitou" for t in (w.timed, w.allday, w.last_day))


def test_a_timed_task_is_a_half_hour_event_in_utc(client, w):
    event = events(feed(client, ics.ics_token(w.rep1)))[f"task-{w.timed.pk}@huitou"]
    assert event.decoded("dtstart") == w.at.astimezone(dt.UTC)
    assert event.decoded("dtend") == w.at.astimezone(dt.UTC) + dt.timedelta(minutes=30)
    assert str(event["summary"]) == "Visit: 张伟 · 上门"
    assert str(event["location"]) == "广州 天河路1号"
    assert str(event["description"]) == "带礼品"


def test_an_untimed_task_is_an_all_day_event(client, w):
    event = events(feed(client, ics.ics_token(w.rep1)))[f"task-{w.allday.pk}@huitou"]
    assert event.decoded("dtstart") == w.today
    assert event.decoded("dtend") == w.today + dt.timedelta(days=1)
    assert str(event["summary"]) == "Phone call: 张伟 · 回访"


def test_the_feed_never_holds_phone_numbers(client, w):
    body = feed(client, ics.ics_token(w.rep1)).content.decode()
    assert "13812345678" not in body and "5678" not in body


def test_uids_are_stable_between_fetches(client, w):
    first = sorted(events(feed(client, ics.ics_token(w.rep1))))
    second = sorted(events(feed(client, ics.ics_token(w.rep1))))
    assert first == second


@pytest.mark.parametrize(
    "token",
    ["nonsense", "1:abc", "", "999999:xyz"],
)
def test_an_invalid_token_is_404(client, w, token):
    response = client.get(f"/plan/ics/{token}.ics")
    assert response.status_code == 404


def test_a_token_signed_with_another_salt_is_404(client, w):
    forged = signing.Signer(salt="something.else").sign(str(w.rep1.pk))
    assert feed(client, forged).status_code == 404


def test_a_tampered_user_id_is_404(client, w):
    token = ics.ics_token(w.rep1)
    forged = f"{w.rep2.pk}:{token.split(':', 1)[1]}"
    assert feed(client, forged).status_code == 404


def test_a_user_who_left_has_no_feed(client, w):
    token = ics.ics_token(w.rep1)
    w.rep1.left_at = timezone.now()
    w.rep1.save()
    assert feed(client, token).status_code == 404


def test_the_feed_link_is_shown_on_the_calendar(client, w):
    client.force_login(w.rep1)
    html = client.get(reverse("followups:calendar")).content.decode()
    assert reverse("followups:ics", args=[ics.ics_token(w.rep1)]) in html
