"""Visit routes: the pure solver (order, distance) and the page that shows a day's visits."""

from __future__ import annotations

import datetime as dt
import itertools
import random
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone
from hypothesis import given, settings
from hypothesis import strategies as st

from huitou.followups import selectors
from huitou.followups.models import Channel
from huitou.followups.route import distance_matrix, haversine_m, path_length, route_order
from tests.factories import CustomerFactory, TaskFactory

# ---------------------------------------------------------------- pure solver


def test_haversine_of_one_degree_of_latitude():
    assert round(haversine_m((23.0, 113.0), (24.0, 113.0))) == 111_195


def test_distance_matrix_is_symmetric_in_whole_metres():
    m = distance_matrix([(23.0, 113.0), (23.0, 113.01), (23.01, 113.0)])
    assert m[0][1] == m[1][0] == round(haversine_m((23.0, 113.0), (23.0, 113.01)))
    assert [m[i][i] for i in range(3)] == [0, 0, 0]


def test_no_points_and_one_point():
    assert route_order([]) == ([], 0)
    assert route_order([(23.1, 113.3)]) == ([0], 0)


def test_points_on_a_line_come_back_in_line_order():
    line = [(23.1, 113.0 + 0.01 * i) for i in range(8)]
    shuffled = line[:]
    random.Random(4).shuffle(shuffled)
    start = shuffled.index(line[0])
    order, total = route_order(shuffled, start)
    assert [shuffled[i] for i in order] == line
    assert total == path_length(distance_matrix(shuffled), order)
    assert abs(total - sum(haversine_m(a, b) for a, b in itertools.pairwise(line))) <= len(line)


def test_starting_in_the_middle_of_a_line_goes_to_one_end_then_the_other():
    line = [(23.1, 113.0 + 0.01 * i) for i in range(5)]
    order, _ = route_order(line, start=1)
    assert order == [1, 0, 2, 3, 4]


def test_a_bad_start_is_refused():
    with pytest.raises(ValueError):
        route_order([(0.0, 0.0), (1.0, 1.0)], start=2)


def _optimum(points: list[tuple[float, float]], start: int) -> int:
    m = distance_matrix(points)
    rest = [i for i in range(len(points)) if i != start]
    return min(path_length(m, [start, *p]) for p in itertools.permutations(rest))


@settings(max_examples=15, deadline=None)
@given(
    st.lists(
        st.tuples(st.floats(22.9, 23.4), st.floats(113.0, 113.6)),
        min_size=3,
        max_size=7,
    )
)
def test_small_routes_are_optimal_and_never_worse_than_the_given_order(points):
    order, total = route_order(points, 0, time_limit_s=0.2)
    m = distance_matrix(points)
    assert sorted(order) == list(range(len(points)))
    assert order[0] == 0
    assert total <= path_length(m, list(range(len(points))))
    assert total == _optimum(points, 0)


def test_a_larger_route_beats_the_given_order():
    rng = random.Random(7)
    points = [(23.0 + rng.random() * 0.3, 113.2 + rng.random() * 0.3) for _ in range(25)]
    order, total = route_order(points, 0, time_limit_s=0.5)
    assert sorted(order) == list(range(25))
    assert total < path_length(distance_matrix(points), list(range(25)))


# ---------------------------------------------------------------- selector and page


@pytest.fixture
def w(org_world):
    w = org_world
    w.today = timezone.localdate()

    def visit(name, lng, *, lat="23.100000", owner=None, **kw):
        c = CustomerFactory(
            owner=owner or w.rep1,
            name=name,
            latitude=Decimal(lat) if lng is not None else None,
            longitude=Decimal(lng) if lng is not None else None,
        )
        return TaskFactory(
            customer=c, kind=Channel.VISIT, title=f"拜访{name}", due_on=kw.get("due_on", w.today)
        )

    # Entered out of order along a street running east.
    w.c = visit("丙", "113.020000")
    w.a = visit("甲", "113.000000")
    w.d = visit("丁", "113.030000")
    w.b = visit("乙", "113.010000")
    w.nowhere = visit("无坐标", None)
    visit("明天", "113.5", due_on=w.today + dt.timedelta(days=1))
    visit("别人", "113.1", owner=w.rep2)
    TaskFactory(customer=w.a.customer, kind=Channel.CALL, due_on=w.today, title="电话")
    return w


def test_visit_route_orders_the_days_visits_from_the_first(w):
    route = selectors.visit_route(w.rep1, day=w.today, time_limit_s=0.2)
    # The first visit of the day (丙) is the start; from there the nearer end, then the other.
    assert [s.customer_name for s in route.stops] == ["丙", "丁", "乙", "甲"]
    assert [s.seq for s in route.stops] == [1, 2, 3, 4]
    assert [s.customer_name for s in route.unplaced] == ["无坐标"]
    stops = [(23.1, 113.02), (23.1, 113.03), (23.1, 113.01), (23.1, 113.0)]
    legs = [0, *(round(haversine_m(a, b)) for a, b in itertools.pairwise(stops))]
    assert [s.leg_m for s in route.stops] == legs
    assert route.total_m == sum(legs)


def test_visit_route_from_given_start_coordinates(w):
    route = selectors.visit_route(w.rep1, day=w.today, start=(23.1, 112.99), time_limit_s=0.2)
    assert [s.customer_name for s in route.stops] == ["甲", "乙", "丙", "丁"]
    first_leg = round(haversine_m((23.1, 112.99), (23.1, 113.0)))
    assert route.stops[0].leg_m == first_leg


def test_route_of_another_rep_is_not_found_for_a_rep(w):
    from huitou.core.errors import NotFound

    with pytest.raises(NotFound):
        selectors.visit_route(w.rep1, day=w.today, user_id=w.rep2.pk)


def test_route_page_lists_stops_in_order_with_distances(client, w):
    client.force_login(w.rep1)
    response = client.get(
        reverse("followups:route"), {"day": w.today.isoformat(), "start_lat": "23.1", "start_lng": "112.99"}
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert re.findall(r'route-stop" data-task="(\d+)"', html) == [str(t.pk) for t in (w.a, w.b, w.c, w.d)]
    assert 'id="route-unplaced"' in html and "无坐标" in html
    assert "chart.umd.min.js" in html and 'id="route-data"' in html
    assert "共 4.1 公里" in html  # 1 km from the start, then three legs of about 1 km


def test_a_manager_opens_a_reps_route(client, w):
    client.force_login(w.manager1)
    response = client.get(reverse("followups:route"), {"day": w.today.isoformat(), "user": w.rep1.pk})
    assert response.status_code == 200
    assert len(re.findall(r'route-stop" data-task=', response.content.decode())) == 4


def test_a_rep_opening_another_reps_route_gets_404(client, w):
    client.force_login(w.rep1)
    assert client.get(reverse("followups:route"), {"user": w.rep2.pk}).status_code == 404


def test_another_organisation_sees_no_route(client, w):
    client.force_login(w.other_owner)
    response = client.get(reverse("followups:route"), {"day": w.today.isoformat()})
    assert response.status_code == 200
    assert 'route-stop" data-task' not in response.content.decode()
