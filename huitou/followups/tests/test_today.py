"""The Today page and its selectors: what is due, grouped, with key facts, in a fixed number of
queries; recording outcomes with htmx; the calendar, the gift catalogue and the customer block."""

from __future__ import annotations

import datetime as dt
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from huitou.accounts.models import User
from huitou.core.errors import NotFound
from huitou.customers.models import Activity, Customer
from huitou.followups import selectors
from huitou.followups.models import Channel, Gift, Task
from tests.factories import (
    ContactRuleFactory,
    CustomerFactory,
    GiftFactory,
    MessageFactory,
    OwnedProductFactory,
    ProductFactory,
    PurchaseFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def w(org_world):
    w = org_world
    w.today = timezone.localdate()
    w.zhang = CustomerFactory(owner=w.rep1, name="张伟", phone="+8613812345678", tier="gold")
    w.li = CustomerFactory(owner=w.rep1, name="李娜", phone="+8613912340000")
    product = ProductFactory(organisation=w.org, name="雅阁")
    OwnedProductFactory(customer=w.zhang, product=product, description="", delivered_on=dt.date(2025, 5, 1))
    OwnedProductFactory(customer=w.zhang, description="思域 1.5T", delivered_on=dt.date(2025, 9, 9))
    PurchaseFactory(customer=w.zhang, ordered_on=dt.date(2025, 9, 1))
    PurchaseFactory(customer=w.zhang, ordered_on=dt.date(2024, 3, 1))
    rule = ContactRuleFactory(organisation=w.org, script="规则里的话术")
    w.call = TaskFactory(
        customer=w.zhang,
        kind=Channel.CALL,
        title="交车回访",
        due_on=w.today - dt.timedelta(days=3),
        rule=rule,
    )
    w.visit = TaskFactory(
        customer=w.li, kind=Channel.VISIT, title="上门拜访", due_on=w.today, script="带礼品"
    )
    w.wechat = TaskFactory(customer=w.li, kind=Channel.WECHAT, title="微信问候", due_on=w.today)
    w.future = TaskFactory(
        customer=w.zhang, kind=Channel.CALL, title="下月回访", due_on=w.today + dt.timedelta(days=5)
    )
    w.done = TaskFactory(customer=w.zhang, kind=Channel.CALL, title="已完成", due_on=w.today, status="done")
    w.rep2_task = TaskFactory(customer=CustomerFactory(owner=w.rep2), title="别人的任务", due_on=w.today)
    return w


def fresh(user: User) -> User:
    """The user as a request would load it: nothing cached."""
    return User.objects.get(pk=user.pk)


# ---------------------------------------------------------------- selector


def test_today_groups_due_and_overdue_open_tasks(w):
    plan = selectors.today_tasks(w.rep1, day=w.today)
    assert [(g.key, g.count, [r.task.title for r in g.rows]) for g in plan.groups] == [
        ("call", 1, ["交车回访"]),
        ("visit", 1, ["上门拜访"]),
        ("wechat", 1, ["微信问候"]),
        ("other", 0, []),
    ]
    assert plan.total == 3
    assert plan.user == w.rep1


def test_today_rows_carry_the_customers_key_facts(w):
    plan = selectors.today_tasks(w.rep1, day=w.today)
    call = plan.groups[0].rows[0]
    assert (call.customer_name, call.phone, call.tier, call.product, call.delivered_on) == (
        "张伟",
        "13812345678",
        "gold",
        "思域 1.5T",
        dt.date(2025, 9, 9),
    )
    assert (call.last_purchase_on, call.days_overdue, call.script) == (dt.date(2025, 9, 1), 3, "规则里的话术")
    visit = plan.groups[1].rows[0]
    assert (visit.product, visit.delivered_on, visit.last_purchase_on, visit.days_overdue, visit.script) == (
        "",
        None,
        None,
        0,
        "带礼品",
    )


def test_a_manager_sees_a_reps_plan_with_masked_phones(w):
    plan = selectors.today_tasks(w.manager1, day=w.today, user_id=w.rep1.pk)
    assert plan.user == w.rep1
    assert plan.groups[0].rows[0].phone == "138****5678"
    assert plan.groups[0].rows[0].phone_e164 == ""


def test_a_rep_cannot_look_at_another_reps_plan(w):
    with pytest.raises(NotFound):
        selectors.today_tasks(w.rep1, day=w.today, user_id=w.rep2.pk)


def test_a_manager_cannot_look_at_a_rep_of_another_store(w):
    with pytest.raises(NotFound):
        selectors.today_tasks(w.manager1, day=w.today, user_id=w.rep3.pk)


def test_another_organisation_sees_nothing(w):
    with pytest.raises(NotFound):
        selectors.today_tasks(w.other_owner, day=w.today, user_id=w.rep1.pk)
    assert selectors.today_tasks(w.other_owner, day=w.today).total == 0


def test_tasks_of_erased_customers_are_left_out(w):
    Customer.objects.filter(pk=w.li.pk).update(status=Customer.Status.ERASED)
    plan = selectors.today_tasks(w.rep1, day=w.today)
    assert plan.total == 1


def test_today_pages_through_a_huge_day(w):
    extra = CustomerFactory(owner=w.rep1)
    TaskFactory.create_batch(4, customer=extra, kind=Channel.CALL, due_on=w.today)
    first = selectors.today_tasks(w.rep1, day=w.today, size=5)
    second = selectors.today_tasks(w.rep1, day=w.today, size=5, page=2)
    assert (first.total, len(first.page.items), first.page.has_next) == (7, 5, True)
    assert (len(second.page.items), second.page.has_next) == (2, False)
    assert {t.pk for t in first.page.items}.isdisjoint({t.pk for t in second.page.items})
    assert [g.count for g in second.groups] == [5, 1, 1, 0]  # counts are for the whole day


@pytest.mark.parametrize("tasks", [1, 30])
def test_today_query_count_does_not_grow_with_tasks(w, django_assert_num_queries, tasks):
    for i in range(tasks):
        c = CustomerFactory(owner=w.rep1)
        OwnedProductFactory(customer=c)
        PurchaseFactory(customer=c)
        TaskFactory(customer=c, kind=[Channel.CALL, Channel.VISIT, Channel.WECHAT][i % 3], due_on=w.today)
    viewer = fresh(w.rep1)
    # counts, the page of tasks, products, last purchases, the organisation (phone policy)
    with django_assert_num_queries(5):
        plan = selectors.today_tasks(viewer, day=w.today)
    assert plan.total == tasks + 3


def test_today_query_count_for_a_manager_looking_at_a_rep(w, django_assert_num_queries):
    viewer = fresh(w.manager1)
    # + the person looked at and the manager's team (ids, read once); the organisation is read
    # once for the scope and the phones
    with django_assert_num_queries(7):
        selectors.today_tasks(viewer, day=w.today, user_id=w.rep1.pk)


def test_today_counts(w):
    assert selectors.today_counts(w.rep1, day=w.today) == {"call": 1, "visit": 1, "wechat": 1, "other": 0}
    assert selectors.today_counts(w.rep1, day=w.today + dt.timedelta(days=5)) == {
        "call": 2,
        "visit": 1,
        "wechat": 1,
        "other": 0,
    }


def test_tasks_month_places_tasks_on_their_days(w):
    plan = selectors.tasks_month(w.rep1, year=w.today.year, month=w.today.month)
    cells = {c.day: c for week in plan.weeks for c in week}
    assert all(len(week) == 7 for week in plan.weeks)
    assert plan.weeks[0][0].day.weekday() == 0  # weeks start on Monday
    assert sorted(t["title"] for t in cells[w.today].tasks) == ["上门拜访", "已完成", "微信问候"]
    assert cells[w.today].is_today
    assert [t["customer__name"] for t in cells[w.today].tasks if t["title"] == "上门拜访"] == ["李娜"]
    titles = {t["title"] for c in cells.values() for t in c.tasks}
    assert "别人的任务" not in titles


def test_tasks_month_query_count(w, django_assert_num_queries):
    viewer = fresh(w.rep1)
    with django_assert_num_queries(1):
        selectors.tasks_month(viewer, year=w.today.year, month=w.today.month)


def test_customer_plan_lists_open_tasks_and_recent_messages(w):
    MessageFactory(customer=w.zhang, body="生日快乐")
    MessageFactory(customer=w.li, body="别的客户")
    plan = selectors.customer_plan(w.rep1, w.zhang.pk)
    assert [t.title for t in plan.open_tasks] == ["交车回访", "下月回访"]
    assert [m.body for m in plan.recent_messages] == ["生日快乐"]


def test_customer_plan_of_another_reps_customer_is_not_found(w):
    with pytest.raises(NotFound):
        selectors.customer_plan(w.rep2, w.zhang.pk)


# ---------------------------------------------------------------- pages


def login(client, user):
    client.force_login(user)
    return client


def row_ids(html: str) -> list[int]:
    return [int(x) for x in re.findall(r'id="task-(\d+)" data-status="open"', html)]


@pytest.mark.parametrize("who", ["rep1", "manager1", "owner", "dcrc", "aftersales"])
def test_today_page_answers_every_role(client, w, who):
    response = login(client, getattr(w, who)).get(reverse("followups:today"))
    assert response.status_code == 200


def test_today_page_shows_the_reps_tasks_grouped(client, w):
    response = login(client, w.rep1).get(reverse("followups:today"))
    html = response.content.decode()
    assert row_ids(html) == [w.call.pk, w.visit.pk, w.wechat.pk]
    assert "别人的任务" not in html
    assert "规则里的话术" in html and "思域 1.5T" in html
    assert 'href="tel:+8613812345678"' in html
    assert re.search(r'id="count-call"[^>]*>1<', html)


def test_a_manager_gets_a_rep_picker_and_a_reps_plan(client, w):
    response = login(client, w.manager1).get(reverse("followups:today"), {"user": w.rep1.pk})
    html = response.content.decode()
    assert 'id="plan-user"' in html
    assert row_ids(html) == [w.call.pk, w.visit.pk, w.wechat.pk]
    assert "138****5678" in html and "13812345678" not in html


def test_a_rep_asking_for_another_reps_plan_gets_404(client, w):
    response = login(client, w.rep1).get(reverse("followups:today"), {"user": w.rep2.pk})
    assert response.status_code == 404


def test_today_page_query_count_is_pinned(client, w, django_assert_num_queries):
    login(client, w.rep1)
    # session, user, the plan (counts, tasks, organisation, products, purchases), the gift list
    with django_assert_num_queries(8):
        client.get(reverse("followups:today"))
    extra = CustomerFactory(owner=w.rep1)
    TaskFactory.create_batch(20, customer=extra, due_on=w.today)
    with django_assert_num_queries(8):
        client.get(reverse("followups:today"))


def test_today_page_query_count_for_a_manager(client, w, django_assert_num_queries):
    login(client, w.manager1)
    # + the person looked at, the manager's team (ids, once), the people picker and the tasks
    # escalated to the manager
    with django_assert_num_queries(12):
        client.get(reverse("followups:today"), {"user": w.rep1.pk})


def outcome(client, task, **data):
    data.setdefault("version", task.version)
    data.setdefault("day", timezone.localdate().isoformat())
    return client.post(
        reverse("followups:task_outcome", args=[task.pk]), data, headers={"HX-Request": "true"}
    )


def test_recording_an_outcome_swaps_the_row_for_its_done_state(client, w):
    login(client, w.rep1)
    due = (w.today + dt.timedelta(days=7)).isoformat()
    response = outcome(client, w.call, outcome="reached", note="满意", next_kind="visit", next_due_on=due)
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="task-{w.call.pk}" data-status="done"' in html
    assert re.search(r'id="count-call"[^>]*hx-swap-oob="true">0<', html)
    assert re.search(r'id="count-total"[^>]*>2<', html)
    task = Task.objects.get(pk=w.call.pk)
    assert (task.status, task.outcome, task.note) == ("done", "reached", "满意")
    follow = Task.objects.get(parent=task)
    assert (follow.kind, follow.due_on.isoformat()) == ("visit", due)
    assert Activity.objects.filter(customer=w.zhang, kind="call").count() == 1


def test_an_outcome_with_errors_redraws_the_row_with_them(client, w):
    login(client, w.rep1)
    response = outcome(client, w.call, outcome="call_back")
    html = response.content.decode()
    assert response.status_code == 200
    assert f'id="task-{w.call.pk}" data-status="open"' in html
    assert "outcome-errors" in html and "请填写回电时间" in html
    assert Task.objects.get(pk=w.call.pk).status == "open"
    assert Activity.objects.count() == 0


def test_an_outcome_twice_shows_a_conflict(client, w):
    login(client, w.rep1)
    outcome(client, w.call, outcome="reached")
    response = outcome(client, w.call, outcome="no_answer", version=2)
    assert 'data-status="done"' in response.content.decode()
    assert Task.objects.get(pk=w.call.pk).outcome == "reached"


def test_an_outcome_on_another_reps_task_is_404(client, w):
    login(client, w.rep1)
    response = outcome(client, w.rep2_task, outcome="reached")
    assert response.status_code == 404
    assert Task.objects.get(pk=w.rep2_task.pk).status == "open"


def test_an_outcome_from_another_organisation_is_404(client, w):
    login(client, w.other_owner)
    response = outcome(client, w.call, outcome="reached")
    assert response.status_code == 404
    assert Task.objects.get(pk=w.call.pk).status == "open"


def test_an_outcome_without_htmx_redirects_to_today(client, w):
    login(client, w.rep1)
    response = client.post(
        reverse("followups:task_outcome", args=[w.call.pk]), {"outcome": "reached", "version": 1}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("followups:today")
    assert Task.objects.get(pk=w.call.pk).status == "done"


def test_gift_warning_partial(client, w):
    gift = GiftFactory(organisation=w.org, name="车载香薰")
    login(client, w.rep1)
    url = reverse("followups:gift_warning")
    assert client.get(url, {"customer": w.zhang.pk, "gift_id": gift.pk}).content.decode().strip() == ""
    outcome(client, w.call, outcome="gift_given", gift_id=gift.pk)
    html = client.get(url, {"customer": w.zhang.pk, "gift_id": gift.pk}, headers={"Accept-Language": "en"})
    assert "gift-warning" in html.content.decode() and "车载香薰" in html.content.decode()
    assert login(client, w.rep2).get(url, {"customer": w.zhang.pk, "gift_id": gift.pk}).status_code == 404


def test_reschedule_from_the_row(client, w):
    login(client, w.rep1)
    new_day = (w.today + dt.timedelta(days=2)).isoformat()
    response = client.post(
        reverse("followups:task_reschedule", args=[w.call.pk]),
        {"due_on": new_day, "version": 1, "day": w.today.isoformat()},
        headers={"HX-Request": "true"},
    )
    assert 'data-status="moved"' in response.content.decode()
    assert Task.objects.get(pk=w.call.pk).due_on.isoformat() == new_day


def test_reassign_from_the_row_by_a_manager(client, w):
    login(client, w.manager1)
    response = client.post(
        reverse("followups:task_reassign", args=[w.call.pk]),
        {"assignee_id": w.rep2.pk, "version": 1, "user": w.rep1.pk},
        headers={"HX-Request": "true"},
    )
    assert 'data-status="moved"' in response.content.decode()
    assert Task.objects.get(pk=w.call.pk).assignee_id == w.rep2.pk


def test_a_rep_cannot_reassign_from_the_row(client, w):
    login(client, w.rep1)
    response = client.post(
        reverse("followups:task_reassign", args=[w.call.pk]),
        {"assignee_id": w.rep2.pk, "version": 1},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 403
    assert Task.objects.get(pk=w.call.pk).assignee_id == w.rep1.pk


def test_today_page_in_english(client, w):
    login(client, w.rep1)
    html = client.get(reverse("followups:today"), headers={"Accept-Language": "en"}).content.decode()
    assert "Calls" in html and "3 days overdue" in html


# ---------------------------------------------------------------- calendar, gifts, task form, customer block


def test_calendar_page(client, w):
    login(client, w.rep1)
    month = w.today.strftime("%Y-%m")
    response = client.get(reverse("followups:calendar"), {"month": month})
    html = response.content.decode()
    assert response.status_code == 200
    assert f'data-day="{w.today.isoformat()}"' in html
    assert "上门拜访" in html and "别人的任务" not in html
    assert "/plan/ics/" in html


def test_calendar_of_another_rep_is_404_for_a_rep(client, w):
    response = login(client, w.rep1).get(reverse("followups:calendar"), {"user": w.rep2.pk})
    assert response.status_code == 404


def test_calendar_of_a_rep_for_their_manager_has_no_feed_link(client, w):
    html = login(client, w.manager1).get(reverse("followups:calendar"), {"user": w.rep1.pk}).content.decode()
    assert "上门拜访" in html and "/plan/ics/" not in html


def test_gift_page_lists_for_everyone_and_edits_for_managers(client, w):
    GiftFactory(organisation=w.org, name="车载香薰")
    GiftFactory(organisation=w.other_org, name="别家礼品")
    html = login(client, w.rep1).get(reverse("followups:gifts")).content.decode()
    assert "车载香薰" in html and "别家礼品" not in html and 'id="gift-form"' not in html
    assert client.post(reverse("followups:gifts"), {"name": "x", "value": "1"}).status_code == 403
    html = login(client, w.manager1).get(reverse("followups:gifts")).content.decode()
    assert 'id="gift-form"' in html
    response = client.post(reverse("followups:gifts"), {"name": "保温杯", "value": "45.00", "note": ""})
    assert response.status_code == 302
    gift = Gift.objects.get(name="保温杯")
    assert (gift.organisation_id, gift.value) == (w.org.pk, Decimal("45.00"))
    client.post(reverse("followups:gift_active", args=[gift.pk]), {"active": "0"})
    assert Gift.objects.get(pk=gift.pk).active is False


def test_gift_page_shows_a_duplicate_name_error(client, w):
    GiftFactory(organisation=w.org, name="车载香薰")
    response = login(client, w.owner).post(reverse("followups:gifts"), {"name": "车载香薰", "value": "1"})
    assert response.status_code == 422
    assert Gift.objects.filter(name="车载香薰").count() == 1


def test_deactivating_another_organisations_gift_is_404(client, w):
    gift = GiftFactory(organisation=w.other_org)
    response = login(client, w.owner).post(reverse("followups:gift_active", args=[gift.pk]), {"active": "0"})
    assert response.status_code == 404
    assert Gift.objects.get(pk=gift.pk).active is True


def test_task_form_plans_a_task(client, w):
    login(client, w.rep1)
    url = reverse("followups:task_create") + f"?customer={w.zhang.pk}"
    assert client.get(url).status_code == 200
    due = (w.today + dt.timedelta(days=3)).isoformat()
    response = client.post(url, {"kind": "visit", "title": "送照片", "due_on": due, "purpose": "service"})
    assert response.status_code == 302
    task = Task.objects.get(title="送照片")
    assert (task.customer_id, task.assignee_id, task.due_on.isoformat()) == (w.zhang.pk, w.rep1.pk, due)


def test_task_form_for_another_reps_customer_is_404(client, w):
    response = login(client, w.rep2).get(reverse("followups:task_create") + f"?customer={w.zhang.pk}")
    assert response.status_code == 404


def test_customer_page_loads_the_plan_block(client, w):
    login(client, w.rep1)
    detail = client.get(reverse("customers:detail", args=[w.zhang.pk])).content.decode()
    assert reverse("followups:customer_plan", args=[w.zhang.pk]) in detail
    block = client.get(reverse("followups:customer_plan", args=[w.zhang.pk])).content.decode()
    assert "交车回访" in block and "下月回访" in block and "已完成" not in block


def test_customer_plan_block_of_another_reps_customer_is_404(client, w):
    response = login(client, w.rep2).get(reverse("followups:customer_plan", args=[w.zhang.pk]))
    assert response.status_code == 404


def test_a_manager_sees_the_overdue_tasks_escalated_to_them_and_a_rep_does_not(client, w):
    from huitou.followups.routing import tasks_escalate

    w.call.due_on = w.today - dt.timedelta(days=20)
    w.call.save()
    tasks_escalate(organisation=w.org, today=w.today)

    manager_html = login(client, w.manager1).get(reverse("followups:today")).content.decode()
    rep_html = login(client, w.rep1).get(reverse("followups:today")).content.decode()

    assert (
        f'class="list-group-item d-flex flex-wrap gap-2 escalated-task" data-task="{w.call.pk}"'
        in manager_html
    )
    assert "已升级给您" in manager_html
    assert 'id="escalated"' not in rep_html
