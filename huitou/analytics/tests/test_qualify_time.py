"""Each rep's time split over red, green and rotten apples, worked out by hand (default policy
minutes: call 10, visit 90, WeChat 5, SMS/e-mail 3, letter 20, gift 15; targets 60/30/10)."""

from __future__ import annotations

import datetime as dt
import io
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from django.urls import reverse

from huitou.analytics import qualify
from huitou.analytics.views_qualify import time_xlsx_header
from huitou.customers.models import Activity
from tests.factories import CustomerFactory

SH = ZoneInfo("Asia/Shanghai")
JUNE = {"start": "2026-06-01", "end": "2026-06-30"}


def at(month: int, day: int, hour: int = 10) -> dt.datetime:
    return dt.datetime(2026, month, day, hour, tzinfo=SH)


def touch(customer, user, kind, when=None):
    return Activity.objects.create(
        organisation=customer.organisation,
        customer=customer,
        kind=kind,
        occurred_at=when or at(6, 10),
        user=user,
        subject="x",
    )


def qualify_as(actor, customer, apple):
    flags = {"red": (True, True, True), "green": (True, True, False), "rotten": (True, False, False)}[apple]
    qualify.qualification_set(
        actor=actor, customer_id=customer.pk, need=flags[0], money=flags[1], authority=flags[2]
    )


@pytest.fixture
def time_world(org_world):
    """rep1: red 120 (visit 90, call 10, letter 20), green 60 (6 calls), rotten 20 (letter) = 200
    minutes, exactly on target. rep3: 50 minutes, all on a rotten apple. rep2 covers one call (10)
    on rep1's red customer."""
    w = org_world
    red = CustomerFactory(owner=w.rep1, name="红")
    green = CustomerFactory(owner=w.rep1, name="绿")
    rotten = CustomerFactory(owner=w.rep1, name="烂")
    unqualified = CustomerFactory(owner=w.rep1, name="未定")
    far = CustomerFactory(owner=w.rep3, name="远")
    qualify_as(w.rep1, red, "red")
    qualify_as(w.rep1, green, "green")
    qualify_as(w.rep1, rotten, "rotten")
    qualify_as(w.rep3, far, "rotten")
    touch(red, w.rep1, "visit")
    touch(red, w.rep1, "call")
    touch(red, w.rep1, "letter")
    for _ in range(6):
        touch(green, w.rep1, "call")
    touch(rotten, w.rep1, "letter")
    touch(unqualified, w.rep1, "visit")  # not qualified: not counted
    touch(red, w.rep1, "note")  # notes take no time in the policy
    touch(red, w.rep1, "visit", at(5, 31, 23))  # before the period
    touch(red, w.rep1, "visit", at(7, 1, 0))  # after it
    for _ in range(5):
        touch(far, w.rep3, "call")
    touch(red, w.rep2, "call")
    return w


def test_split_math_is_exact():
    m = qualify.split_minutes([0, 0, 1, 0], [0, 1, 2, 0], [90, 60, 50, 30], 2)
    assert m.tolist() == [[120.0, 60.0, 0.0], [0.0, 0.0, 50.0]]
    shares = qualify.split_shares(np.vstack([m, np.zeros((1, 3))]))
    assert shares[0].tolist() == pytest.approx([200 / 3, 100 / 3, 0.0])
    assert shares[2].tolist() == [0.0, 0.0, 0.0]
    flags = qualify.off_target(
        np.array([[60.0, 30.0, 10.0], [59.9, 40.1, 0.0], [70.0, 19.0, 11.0]]),
        red_min=60,
        green_min=30,
        rotten_max=10,
    )
    assert flags.tolist() == [[False, False, False], [True, False, False], [False, True, True]]


def test_owner_sees_every_reps_split(time_world):
    w = time_world
    split = qualify.time_split(w.owner, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30))
    rows = {r.rep_id: r for r in split.rows}
    assert set(rows) == {w.rep1.pk, w.rep2.pk, w.rep3.pk}
    r1 = rows[w.rep1.pk]
    assert r1.minutes == (120.0, 60.0, 20.0)
    assert r1.shares == (60.0, 30.0, 10.0)
    assert r1.flags == (False, False, False) and not r1.off_target
    r3 = rows[w.rep3.pk]
    assert (r3.minutes, r3.shares, r3.flags) == ((0.0, 0.0, 50.0), (0.0, 0.0, 100.0), (True, True, True))
    assert rows[w.rep2.pk].minutes == (10.0, 0.0, 0.0)
    assert split.total_minutes == (130.0, 60.0, 70.0)
    assert split.targets == (60, 30, 10)


def test_policy_minutes_and_targets_are_used(time_world):
    w = time_world
    data = w.org.policy.model_dump(mode="json")
    data["segments"].update(minutes_visit=30, apple_red_min_pct=70)
    w.org.policy_data = data
    w.org.save()
    w.owner.organisation.refresh_from_db()
    split = qualify.time_split(w.owner, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30), rep_id=w.rep1.pk)
    (r1,) = split.rows
    assert r1.minutes == (60.0, 60.0, 20.0)  # the visit now counts 30
    assert r1.shares[0] == pytest.approx(60 / 140 * 100)
    assert r1.flags[0] is True


def test_rep_sees_only_own_time_and_manager_only_their_people(time_world):
    w = time_world
    june = {"start": dt.date(2026, 6, 1), "end": dt.date(2026, 6, 30)}
    assert [r.rep_id for r in qualify.time_split(w.rep1, **june).rows] == [w.rep1.pk]
    assert [r.rep_id for r in qualify.time_split(w.rep3, **june).rows] == [w.rep3.pk]
    # manager1 (store 1) sees rep1 and rep2, not rep3 of store 2.
    assert {r.rep_id for r in qualify.time_split(w.manager1, **june).rows} == {w.rep1.pk, w.rep2.pk}
    assert qualify.time_split(w.dcrc, **june).rows == []


def test_filters_by_store_and_team(time_world):
    w = time_world
    june = {"start": dt.date(2026, 6, 1), "end": dt.date(2026, 6, 30)}
    assert {r.rep_id for r in qualify.time_split(w.owner, store_id=w.s2.pk, **june).rows} == {w.rep3.pk}
    assert {r.rep_id for r in qualify.time_split(w.owner, team_id=w.t1.pk, **june).rows} == {
        w.rep1.pk,
        w.rep2.pk,
    }


def test_split_is_one_query(time_world, django_assert_num_queries):
    w = time_world
    assert w.owner.organisation is not None  # loaded before counting
    with django_assert_num_queries(2):  # the GROUP BY, then the reps' names
        qualify.time_split(w.owner, start=dt.date(2026, 6, 1), end=dt.date(2026, 6, 30))


def test_time_page_table_and_flags(client, time_world):
    w = time_world
    client.force_login(w.owner)
    response = client.get(reverse("analytics:qualify_time"), JUNE)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="time-row-{w.rep1.pk}"' in html and f'id="time-row-{w.rep3.pk}"' in html
    assert 'id="time-chart"' in html
    rows = {row["r"].rep_id: row for row in response.context["rows"]}
    assert rows[w.rep1.pk]["cells"] == [(120.0, 60.0, False), (60.0, 30.0, False), (20.0, 10.0, False)]
    assert rows[w.rep3.pk]["r"].off_target
    assert html.count('data-flag="off"') == 2  # rep2 (all red, no green) and rep3


def test_time_page_in_english(client, time_world):
    client.force_login(time_world.owner)
    html = client.get(reverse("analytics:qualify_time"), JUNE, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Where each rep&#x27;s time went" in html or "Where each rep's time went" in html
    assert "Off target" in html


def test_time_page_refused_to_dcrc(client, time_world):
    client.force_login(time_world.dcrc)
    assert client.get(reverse("analytics:qualify_time"), JUNE).status_code == 403


def test_time_xlsx_reads_back(client, time_world):
    from openpyxl import load_workbook

    w = time_world
    client.force_login(w.manager1)
    response = client.get(reverse("analytics:qualify_time"), {**JUNE, "format": "xlsx"})
    assert response.status_code == 200
    assert "time-split-2026-06-01-2026-06-30.xlsx" in response["Content-Disposition"]
    ws = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    rows = [list(r) for r in ws.iter_rows(values_only=True)]
    assert rows[0] == time_xlsx_header()
    by_rep = {r[0]: r for r in rows[1:-1]}
    assert by_rep[str(w.rep1)][1:8] == [120, 60, 60, 30, 20, 10, 200]
    assert str(w.rep3) not in by_rep
    assert rows[-1][1:8] == [130, 61.9, 60, 28.6, 20, 9.5, 210]  # rep1 and rep2 of store 1
