"""The segments page's team, rep and as-of filters and its xlsx export: exact figures on the
hand-built segment world, choices limited to the viewer, and the export holding exactly the rows
of the page's filters and scope."""

from __future__ import annotations

import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone, translation
from django.utils.translation import gettext
from openpyxl import load_workbook

from huitou.analytics import exports
from huitou.analytics.models import SegmentFill
from huitou.analytics.selectors import (
    SegmentFilters,
    segment_customers,
    segments_overview,
    snapshot_days,
    teams_in_scope,
)
from huitou.analytics.services import segments_refresh
from huitou.core.xlsx import XLSX

from .conftest import AS_OF

URL = "/analytics/segments/"
EARLIER = dt.date(2026, 3, 31)


@pytest.fixture
def refreshed(seg_world):
    segments_refresh(organisation=seg_world.w.org, as_of=EARLIER)
    segments_refresh(organisation=seg_world.w.org, as_of=AS_OF)
    # A run that did not finish: never offered.
    SegmentFill.objects.create(
        organisation=seg_world.w.org,
        as_of=dt.date(2026, 7, 1),
        status=SegmentFill.Status.RUNNING,
        started_at=timezone.now(),
    )
    return seg_world


def site(text: str) -> str:
    """A text as the export writes it: in the site's language."""
    with translation.override(settings.LANGUAGE_CODE):
        return gettext(text)


def client_for(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def book_of(response):
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    return load_workbook(io.BytesIO(b"".join(response.streaming_content)), read_only=True)


def rows_of(book, index):
    return [list(r) for r in book.worksheets[index].iter_rows(values_only=True)]


def select(html, name):
    return re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)


# ---------------------------------------------------------------------------------------------
# Selectors


def test_snapshot_days_are_the_complete_ones(refreshed):
    assert snapshot_days(refreshed.w.owner) == [AS_OF, EARLIER]
    assert snapshot_days(refreshed.w.other_owner) == []


def test_team_and_rep_filters(refreshed):
    w = refreshed.w
    team2 = segments_overview(w.owner, team_id=w.t2.pk)  # rep3's C and D
    assert team2.customers == 2
    assert {t.tier: t.customers for t in team2.tiers} == {"gold": 0, "silver": 0, "bronze": 1, "": 1}
    assert team2.revenue == Decimal("150000")
    # Not the organisation's stored curve: computed from C (150000) and D (0).
    assert team2.pareto["revenue"] == [0.0, 1.0, 1.0]
    rep1 = segments_overview(w.owner, rep_id=w.rep1.pk)  # A and B
    assert (rep1.customers, rep1.revenue) == (2, Decimal("850000"))
    assert [(t.tier, t.customers) for t in rep1.tiers if t.customers] == [("gold", 1), ("silver", 1)]
    assert segments_overview(w.owner, team_id=w.t1.pk, rep_id=w.rep3.pk).customers == 0


def test_earlier_snapshot(refreshed):
    o = segments_overview(refreshed.w.owner, as_of=EARLIER)
    assert o.as_of == EARLIER
    # On 31 March only A (a service visit), B and C had bought; D's visits came later.
    assert o.customers == 3


def test_teams_in_scope(refreshed):
    w = refreshed.w
    assert [pk for pk, _name in teams_in_scope(w.owner)] == sorted(
        [w.t1.pk, w.t2.pk], key=lambda pk: {w.t1.pk: w.t1.name, w.t2.pk: w.t2.name}[pk]
    )
    assert teams_in_scope(w.manager2) == [(w.t2.pk, w.t2.name)]
    assert teams_in_scope(w.rep1) == []


def test_export_rows_follow_filters_and_scope(refreshed):
    w = refreshed.w
    names = lambda viewer, **kw: [  # noqa: E731
        s.customer.name for s in segment_customers(viewer, SegmentFilters(**kw), as_of=AS_OF)
    ]
    assert names(w.owner) == ["A", "B", "C", "D"]
    assert names(w.owner, rep_id=w.rep1.pk) == ["A", "B"]
    assert names(w.owner, store_id=w.s2.pk) == ["C", "D"]
    assert names(w.manager2) == ["C", "D"]
    assert names(w.manager2, rep_id=w.rep1.pk) == []  # outside their scope
    assert names(w.rep1) == []  # reps do not see segments


# ---------------------------------------------------------------------------------------------
# Page


def test_page_filters_offer_the_viewers_choices(refreshed):
    w = refreshed.w
    html = client_for(w.manager2).get(URL).content.decode()
    teams = select(html, "team")
    assert f'<option value="{w.t2.pk}">' in teams and f'<option value="{w.t1.pk}">' not in teams
    reps = select(html, "rep")
    assert f'<option value="{w.rep3.pk}">' in reps and f'<option value="{w.rep1.pk}">' not in reps
    days = select(html, "as_of")
    assert '<option value="2026-06-30">' in days and '<option value="2026-03-31">' in days
    assert "2026-07-01" not in days


def test_page_with_rep_filter(refreshed):
    w = refreshed.w
    r = client_for(w.owner).get(URL, {"rep": w.rep1.pk})
    assert r.context["overview"].customers == 2
    html = r.content.decode()
    # The links to the customer list carry the rep as the owner filter.
    assert f'href="/customers/?tier=gold&amp;owner={w.rep1.pk}"' in html
    assert f'href="{URL}?rep={w.rep1.pk}&amp;format=xlsx"' in html


def test_page_with_team_filter_has_no_list_links(refreshed):
    w = refreshed.w
    r = client_for(w.owner).get(URL, {"team": w.t2.pk})
    assert r.context["overview"].customers == 2
    assert 'href="/customers/?tier=' not in r.content.decode()


def test_page_as_of_earlier_day(refreshed):
    r = client_for(refreshed.w.owner).get(URL, {"as_of": "2026-03-31"})
    assert r.context["overview"].as_of == EARLIER
    assert r.context["overview"].customers == 3
    assert 'href="/customers/?tier=' not in r.content.decode()  # current tiers would not add up


def test_unfinished_day_is_refused(refreshed):
    r = client_for(refreshed.w.owner).get(URL, {"as_of": "2026-07-01"})
    assert "as_of" in r.context["form"].errors
    assert r.context["overview"].as_of == AS_OF


def test_manager_cannot_pick_another_stores_rep(refreshed):
    w = refreshed.w
    r = client_for(w.manager2).get(URL, {"rep": w.rep1.pk})
    assert "rep" in r.context["form"].errors
    assert r.context["overview"].customers == 2  # still only their store


# ---------------------------------------------------------------------------------------------
# Export


def test_owner_export_exact(refreshed):
    w = refreshed.w
    book = book_of(client_for(w.owner).get(URL, {"format": "xlsx"}))
    tiers = rows_of(book, 0)
    assert [r[1:] for r in tiers[1:5]] == [
        [1, 500000, 0.5, 100000, 0.678],
        [1, 350000, 0.35, 17500, 0.1186],
        [1, 150000, 0.15, 30000, 0.2034],
        [1, 0, 0.0, 0, 0.0],
    ]
    assert tiers[-2:] == [
        [site("Best 20 percent of customers: share of revenue"), 0.5],
        [site("Best 20 percent of customers: share of margin"), 0.678],
    ]
    pareto = rows_of(book, 1)
    assert [r[0] for r in pareto[1:]] == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert [r[1] for r in pareto[1:]] == [0.0, 0.5, 0.85, 1.0, 1.0]
    rf = rows_of(book, 2)
    assert rf[0] == ["R / F", "F1", "F2", "F3", "F4", "F5"]
    # R5 first: A (3, 3), B (1, 1), C (2, 1), D (4, 4).
    assert rf[1:] == [
        ["R5", 0, 0, 0, 0, 0],
        ["R4", 0, 0, 0, 1, 0],
        ["R3", 0, 0, 1, 0, 0],
        ["R2", 1, 0, 0, 0, 0],
        ["R1", 1, 0, 0, 0, 0],
    ]
    customers = rows_of(book, 4)
    assert customers[0] == exports.segments_customer_header()
    assert [(r[0], r[1], r[2], r[10], r[11]) for r in customers[1:]] == [
        (refreshed.a.pk, "A", "rep1", 500000, 100000),
        (refreshed.b.pk, "B", "rep1", 350000, 17500),
        (refreshed.c.pk, "C", "rep3", 150000, 30000),
        (refreshed.d.pk, "D", "rep3", 0, 0),
    ]
    assert [r[3] for r in customers[1:]] == ["天河店", "天河店", "番禺店", "番禺店"]


def test_export_follows_the_filters(refreshed):
    w = refreshed.w
    c = client_for(w.owner)
    book = book_of(c.get(URL, {"format": "xlsx", "team": w.t1.pk}))
    assert [r[1] for r in rows_of(book, 4)[1:]] == ["A", "B"]
    assert [r[1] for r in rows_of(book, 0)[1:5]] == [1, 1, 0, 0]  # gold A, silver B
    book = book_of(c.get(URL, {"format": "xlsx", "as_of": "2026-03-31"}))
    assert len(rows_of(book, 4)) == 1 + 3
    assert rows_of(book, 5)[0] == [site("As of"), "2026-03-31"]


def test_manager_export_holds_only_their_store(refreshed):
    w = refreshed.w
    book = book_of(client_for(w.manager2).get(URL, {"format": "xlsx"}))
    ids = {r[0] for r in rows_of(book, 4)[1:]}
    assert ids == {refreshed.c.pk, refreshed.d.pk}
    assert sum(r[1] for r in rows_of(book, 0)[1:5]) == 2


def test_export_is_capped_and_says_so(refreshed, monkeypatch):
    monkeypatch.setattr(exports, "EXPORT_ROWS", 2)
    rows = rows_of(book_of(client_for(refreshed.w.owner).get(URL, {"format": "xlsx"})), 4)
    assert [r[1] for r in rows[1:3]] == ["A", "B"]
    assert len(rows) == 4
    assert rows[3][0] == site("Only the first %(n)s customers are exported; narrow the filters.") % {"n": 2}


@pytest.mark.parametrize("who", ["rep1", "dcrc"])
def test_export_refused_to_other_roles(refreshed, who):
    assert client_for(getattr(refreshed.w, who)).get(URL, {"format": "xlsx"}).status_code == 403


def test_export_queries_do_not_grow(refreshed, django_assert_num_queries):
    from tests.factories import CustomerFactory

    from .conftest import buy

    w = refreshed.w
    for k in range(30):
        buy(CustomerFactory(owner=w.rep2, name=f"R{k}"), dt.date(2026, 5, 1), "1000", "100")
    segments_refresh(organisation=w.org, as_of=AS_OF)
    c = client_for(w.owner)
    # Session, user, days, stores, reps, teams, the figures (one GROUP BY for tiers, R×F and
    # types), the stored curve, the rows.
    with django_assert_num_queries(9):
        book = book_of(c.get(URL, {"format": "xlsx"}))
    assert len(rows_of(book, 4)) == 1 + 34
