"""Plan-management pages: rules, compliance, request clocks, absences and notices, with refusals."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from huitou.customers.services import search_keys_rebuild
from huitou.followups import requests as req
from huitou.followups import rules
from huitou.followups.models import Absence, ContactRule, CustomerRequest, ProductNotice, Task
from tests.factories import (
    ContactRuleFactory,
    CustomerFactory,
    OwnedProductFactory,
    ProductFactory,
    TaskFactory,
)

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user)
    return client


def html(response) -> str:
    return response.content.decode()


def cell(page: str, rep: str, col: str) -> str:
    row = re.search(rf'<tr data-rep="{rep}">(.*?)</tr>', page, re.S)
    assert row, f"no row for {rep}"
    value = re.search(rf'data-col="{col}">(?:<a [^>]*>)?([^<]*)<', row.group(1))
    assert value, f"no cell {col}"
    return value.group(1).strip()


def rule_form(**over):
    data = {
        "code": "silver-call-2",
        "name": "Call silver customers",
        "trigger": "revisit",
        "offset_days": "0",
        "channel": "call",
        "purpose": "marketing",
        "priority": "55",
        "assignee": "owner",
        "param_interval_days": "60",
        "param_activity_kinds": ["call", "visit"],
        "tiers": ["silver"],
        "active": "on",
    }
    data.update(over)
    return data


# --- rules ------------------------------------------------------------------------------------


def test_rules_page_groups_by_trigger_for_the_owner(client, org_world):
    rules.rules_seed(organisation=org_world.org)
    page = html(login(client, org_world.owner).get(reverse("followups:rules")))
    assert 'id="trigger-order_placed"' in page
    assert 'id="trigger-festival"' in page
    assert 'data-rule="birthday-card"' in page
    assert reverse("followups:rule_new") in page
    assert 'role="switch"' in page


def test_manager_reads_rules_without_switches_rep_is_refused(client, org_world):
    ContactRuleFactory(organisation=org_world.org, code="only-rule")
    page = html(login(client, org_world.manager1).get(reverse("followups:rules")))
    assert 'data-rule="only-rule"' in page
    assert 'role="switch"' not in page
    assert reverse("followups:rule_new") not in page
    assert login(client, org_world.rep1).get(reverse("followups:rules")).status_code == 403


def test_toggle_with_htmx_returns_the_row(client, org_world):
    rule = ContactRuleFactory(organisation=org_world.org, code="toggle-me")
    response = login(client, org_world.owner).post(
        reverse("followups:rule_active", args=[rule.pk]),
        {"active": "0", "version": "1"},
        HTTP_HX_REQUEST="true",
    )
    assert response.status_code == 200
    assert html(response).startswith(f'<tr id="rule-{rule.pk}"')
    rule.refresh_from_db()
    assert (rule.active, rule.version) == (False, 2)


def test_toggle_refusals_change_nothing(client, org_world):
    rule = ContactRuleFactory(organisation=org_world.org)
    theirs = ContactRuleFactory(organisation=org_world.other_org)
    url = reverse("followups:rule_active", args=[rule.pk])
    assert login(client, org_world.manager1).post(url, {"active": "0"}).status_code == 403
    assert login(client, org_world.rep1).post(url, {"active": "0"}).status_code == 403
    other = reverse("followups:rule_active", args=[theirs.pk])
    assert login(client, org_world.owner).post(other, {"active": "0"}).status_code == 404
    rule.refresh_from_db()
    theirs.refresh_from_db()
    assert (rule.active, rule.version, theirs.active) == (True, 1, True)


def test_create_rule_from_the_form(client, org_world):
    response = login(client, org_world.owner).post(reverse("followups:rule_new"), rule_form())
    rule = ContactRule.objects.get(code="silver-call-2")
    assert response.status_code == 302
    assert response["Location"] == reverse("followups:rule_edit", args=[rule.pk])
    assert rule.params == {"interval_days": 60, "activity_kinds": ["call", "visit"]}
    assert (rule.tiers, rule.priority, rule.organisation_id) == (["silver"], 55, org_world.org.pk)


def test_form_shows_a_service_error_next_to_the_param(client, org_world):
    data = rule_form(trigger="seasonal", param_dates="03-01, 13-01")
    response = login(client, org_world.owner).post(reverse("followups:rule_new"), data)
    assert response.status_code == 422
    field = re.search(r'data-param-field="dates">(.*?)</div>\s*</div>', html(response), re.S)
    assert field and "not a valid MM-DD date: 13-01" in field.group(1)
    assert not ContactRule.objects.exists()


def test_manager_cannot_create_or_edit_rules(client, org_world):
    rule = ContactRuleFactory(organisation=org_world.org, priority=40)
    c = login(client, org_world.manager1)
    assert c.get(reverse("followups:rule_new")).status_code == 403
    assert c.post(reverse("followups:rule_new"), rule_form()).status_code == 403
    assert c.get(reverse("followups:rule_edit", args=[rule.pk])).status_code == 200
    data = rule_form(trigger="delivered", priority="99", version="1")
    assert c.post(reverse("followups:rule_edit", args=[rule.pk]), data).status_code == 403
    rule.refresh_from_db()
    assert (rule.priority, rule.version, ContactRule.objects.count()) == (40, 1, 1)


def test_edit_with_a_stale_version_is_refused_and_keeps_the_other_edit(client, org_world):
    w = org_world
    rule = rules.rule_create(
        actor=w.owner,
        data={
            "code": "r1",
            "name": "R1",
            "trigger": "delivered",
            "channel": "call",
            "purpose": "service",
        },
    )
    rules.rule_update(actor=w.owner, rule_id=rule.pk, data={"priority": 77}, version=1)
    data = rule_form(code="", trigger="delivered", priority="10", version="1", name="Mine")
    response = login(client, w.owner).post(reverse("followups:rule_edit", args=[rule.pk]), data)
    assert response.status_code == 409
    assert "有人修改了它" in html(response)
    rule.refresh_from_db()
    assert (rule.priority, rule.name, rule.version) == (77, "R1", 2)


def test_edit_saves_and_shows_the_preview(client, org_world):
    w = org_world
    rule = rules.rule_create(
        actor=w.owner,
        data={
            "code": "bday",
            "name": "Birthday",
            "trigger": "birthday",
            "channel": "sms",
            "purpose": "marketing",
            "template": "{name}生日快乐",
        },
    )
    page = html(login(client, w.owner).get(reverse("followups:rule_edit", args=[rule.pk])))
    assert "张先生生日快乐" in page
    data = rule_form(
        code="",
        trigger="birthday",
        channel="sms",
        template="{name},{store}祝您生日快乐",
        version="1",
        name="Birthday",
    )
    response = client.post(reverse("followups:rule_edit", args=[rule.pk]), data)
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.template, rule.version, rule.params) == ("{name},{store}祝您生日快乐", 2, {})


def test_live_preview_for_a_customer(client, org_world):
    customer = CustomerFactory(owner=org_world.rep1, name="刘洋")
    OwnedProductFactory(customer=customer, description="卡罗拉")
    response = login(client, org_world.manager1).get(
        reverse("followups:rule_preview"),
        {"template": "{name},{product}该保养了", "sample_customer": customer.pk},
    )
    assert "刘洋,卡罗拉该保养了" in html(response)
    hidden = CustomerFactory(owner=org_world.rep3, name="隐藏")
    response = client.get(
        reverse("followups:rule_preview"), {"template": "{name}", "sample_customer": hidden.pk}
    )
    assert "隐藏" not in html(response)
    assert login(client, org_world.rep1).get(reverse("followups:rule_preview")).status_code == 403


# --- compliance -------------------------------------------------------------------------------------


def test_manager_sees_rep1_done_on_time(client, org_world):
    w = org_world
    today = timezone.localdate()
    task = TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=today)
    Task.objects.filter(pk=task.pk).update(status=Task.Status.DONE, completed_at=timezone.now())
    TaskFactory(customer=CustomerFactory(owner=w.rep3), due_on=today)
    page = html(login(client, w.manager1).get(reverse("followups:compliance")))
    assert cell(page, "rep1", "on_time") == "1"
    assert cell(page, "rep1", "late") == "0"
    assert cell(page, "rep1", "rate") == "100%"
    assert 'data-rep="rep3"' not in page
    assert 'id="compliance-data"' in page


def test_compliance_number_links_to_its_tasks(client, org_world):
    w = org_world
    today = timezone.localdate()
    customer = CustomerFactory(owner=w.rep1, name="链接客户")
    TaskFactory(customer=customer, due_on=today, title="回访链接")
    TaskFactory(
        customer=customer, due_on=today, title="已完成", status=Task.Status.DONE, completed_at=timezone.now()
    )
    page = html(login(client, w.owner).get(reverse("followups:compliance")))
    link = re.search(r'data-rep="rep1">.*?data-col="open_upcoming"><a href="([^"]+)"', page, re.S).group(1)
    tasks_page = html(client.get(link.replace("&amp;", "&")))
    assert "回访链接" in tasks_page
    assert "已完成" not in tasks_page


def test_rep_sees_only_their_own_row(client, org_world):
    w = org_world
    today = timezone.localdate()
    TaskFactory(customer=CustomerFactory(owner=w.rep1), due_on=today)
    TaskFactory(customer=CustomerFactory(owner=w.rep2), due_on=today)
    page = html(login(client, w.rep2).get(reverse("followups:compliance")))
    assert 'data-rep="rep2"' in page
    assert 'data-rep="rep1"' not in page
    # The task list of someone else is empty, not an error.
    other = html(client.get(reverse("followups:task_report"), {"assignee": w.rep1.pk}))
    assert 'id="task-table"' not in other


def test_task_list_paginates(client, org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1)
    today = timezone.localdate()
    for i in range(55):
        TaskFactory(customer=customer, due_on=today, title=f"任务{i:02d}")
    c = login(client, w.owner)
    first = html(c.get(reverse("followups:task_report"), {"assignee": w.rep1.pk}))
    assert first.count("data-task=") == 50
    assert "page=2" in first
    second = html(c.get(reverse("followups:task_report"), {"assignee": w.rep1.pk, "page": 2}))
    assert second.count("data-task=") == 5


def test_compliance_page_query_count_does_not_grow_with_reps(
    client, org_world, django_assert_max_num_queries
):
    w = org_world
    today = timezone.localdate()
    for rep in (w.rep1, w.rep2, w.rep3):
        for _ in range(3):
            TaskFactory(customer=CustomerFactory(owner=rep), due_on=today)
    login(client, w.owner)
    with django_assert_max_num_queries(8):
        response = client.get(reverse("followups:compliance"))
    assert response.status_code == 200


# --- requests ------------------------------------------------------------------------------------


def test_log_a_request_and_see_its_clock(client, org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1, name="要求客户")
    c = login(client, w.rep1)
    response = c.post(
        reverse("followups:request_log"),
        {"customer_id": customer.pk, "summary": "要开发票", "channel": "call"},
    )
    assert response.status_code == 302
    item = CustomerRequest.objects.get()
    assert (item.owner_id, item.summary) == (w.rep1.pk, "要开发票")
    page = html(c.get(reverse("followups:requests")))
    assert f'data-request="{item.pk}"' in page
    assert 'class="small js-clock"' in page


def test_ack_and_answer_with_htmx(client, org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1)
    item = req.request_log(actor=w.rep1, customer_id=customer.pk, summary="问题", channel="call")
    c = login(client, w.manager1)
    response = c.post(reverse("followups:request_ack", args=[item.pk]), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert html(response).startswith(f'<tr id="request-{item.pk}"')
    item.refresh_from_db()
    assert item.status == "acknowledged" and item.first_reply_at is not None
    response = c.post(reverse("followups:request_answer", args=[item.pk]), {"note": "已解决"})
    assert response.status_code == 302
    item.refresh_from_db()
    assert (item.status, item.reply_note) == ("answered", "已解决")


def test_ack_out_of_scope_is_404_and_changes_nothing(client, org_world):
    w = org_world
    item = req.request_log(
        actor=w.rep1, customer_id=CustomerFactory(owner=w.rep1).pk, summary="x", channel="call"
    )
    c = login(client, w.rep3)
    assert c.post(reverse("followups:request_ack", args=[item.pk])).status_code == 404
    assert c.post(reverse("followups:request_answer", args=[item.pk])).status_code == 404
    item.refresh_from_db()
    assert (item.status, item.first_reply_at) == ("open", None)


def test_request_form_partial_returns_to_the_page(client, org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1)
    back = reverse("customers:detail", args=[customer.pk])
    c = login(client, w.rep1)
    response = c.post(
        reverse("followups:request_log"),
        {"customer_id": customer.pk, "summary": "换轮胎", "channel": "wechat", "next": back},
    )
    assert (response.status_code, response["Location"]) == (302, back)
    assert CustomerRequest.objects.get().channel == "wechat"
    # An error goes back too, as a message, and stores nothing.
    response = c.post(
        reverse("followups:request_log"),
        {"customer_id": customer.pk, "summary": "", "channel": "call", "next": back},
    )
    assert (response.status_code, response["Location"]) == (302, back)
    assert CustomerRequest.objects.count() == 1
    # Somewhere else is not a place to go back to.
    response = c.post(
        reverse("followups:request_log"),
        {"customer_id": customer.pk, "summary": "再问", "channel": "call", "next": "https://evil.example/"},
    )
    assert response["Location"] == reverse("followups:requests")


def test_request_for_a_hidden_customer_is_refused_on_the_page(client, org_world):
    w = org_world
    hidden = CustomerFactory(owner=w.rep3)
    response = login(client, w.rep1).post(
        reverse("followups:request_log"), {"customer_id": hidden.pk, "summary": "x", "channel": "call"}
    )
    assert response.status_code == 422
    assert not CustomerRequest.objects.exists()


def test_request_form_renders_on_any_page(rf, org_world):
    from django.template.loader import render_to_string

    customer = CustomerFactory(owner=org_world.rep1)
    request = rf.get(f"/customers/{customer.pk}/")
    request.user = org_world.rep1
    out = render_to_string("followups/manage/_request_form.html", {"customer": customer}, request=request)
    assert f'action="{reverse("followups:request_log")}"' in out
    assert f'name="customer_id" value="{customer.pk}"' in out
    assert f'name="next" value="/customers/{customer.pk}/"' in out


def test_customer_picker_finds_in_scope_only(client, org_world):
    w = org_world
    mine = CustomerFactory(owner=w.rep1, name="王建国")
    theirs = CustomerFactory(owner=w.rep3, name="王建军")
    search_keys_rebuild(customer_ids=[mine.pk, theirs.pk])
    c = login(client, w.rep1)
    page = html(c.get(reverse("followups:request_customers"), {"q": "王建"}))
    assert f'data-pick-customer="{mine.pk}"' in page
    assert "王建军" not in page
    by_id = html(c.get(reverse("followups:request_customers"), {"q": str(mine.pk)}))
    assert f'data-pick-customer="{mine.pk}"' in by_id


def test_request_report_page(client, org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1)
    tz = timezone.get_current_timezone()
    received = dt.datetime(2026, 10, 13, 9, 0, tzinfo=tz)
    req.request_log(
        actor=w.rep1, customer_id=customer.pk, summary="逾期", channel="call", received_at=received
    )
    page = html(
        login(client, w.manager1).get(
            reverse("followups:request_report"), {"start": "2026-10-01", "end": "2026-10-31"}
        )
    )
    assert cell(page, "rep1", "received") == "1"
    assert cell(page, "rep1", "breached") == "1"
    assert "逾期" in page


# --- absences and notices ------------------------------------------------------------------------------


def test_manager_records_an_absence_on_the_page(client, org_world):
    w = org_world
    c = login(client, w.manager1)
    assert c.get(reverse("followups:absences")).status_code == 200
    start = timezone.localdate() + dt.timedelta(days=3)
    response = c.post(
        reverse("followups:absences"),
        {
            "user": w.rep1.pk,
            "starts_on": start.isoformat(),
            "ends_on": (start + dt.timedelta(days=2)).isoformat(),
            "delegate": w.rep2.pk,
            "reason": "培训",
        },
    )
    assert response.status_code == 302
    absence = Absence.objects.get()
    assert (absence.user_id, absence.delegate_id, absence.reason) == (w.rep1.pk, w.rep2.pk, "培训")
    page = html(c.get(reverse("followups:absences")))
    assert f'data-absence="{absence.pk}"' in page


def test_absence_page_refusals(client, org_world):
    w = org_world
    assert login(client, w.rep1).get(reverse("followups:absences")).status_code == 403
    start = timezone.localdate()
    data = {"user": w.rep3.pk, "starts_on": start.isoformat(), "ends_on": start.isoformat()}
    assert client.post(reverse("followups:absences"), data).status_code == 403
    # rep3 is not a choice for manager1: the form refuses it.
    assert login(client, w.manager1).post(reverse("followups:absences"), data).status_code == 422
    bad = {
        "user": w.rep1.pk,
        "starts_on": start.isoformat(),
        "ends_on": (start - dt.timedelta(days=1)).isoformat(),
    }
    response = client.post(reverse("followups:absences"), bad)
    assert response.status_code == 422
    assert not Absence.objects.exists()


def test_notices_page_creates_and_counts_owners(client, org_world):
    w = org_world
    product = ProductFactory(organisation=w.org, name="雷凌")
    OwnedProductFactory(customer=CustomerFactory(owner=w.rep1), product=product)
    OwnedProductFactory(customer=CustomerFactory(owner=w.rep3), product=product)
    c = login(client, w.owner)
    response = c.post(
        reverse("followups:notices"),
        {
            "product": product.pk,
            "kind": "usage",
            "title": "新的保养周期",
            "body": "",
            "effective_on": timezone.localdate().isoformat(),
        },
    )
    assert response.status_code == 302
    notice = ProductNotice.objects.get()
    page = html(c.get(reverse("followups:notices")))
    assert re.search(rf'data-notice="{notice.pk}">.*?data-col="owners">2<', page, re.S)
    assert login(client, w.rep1).get(reverse("followups:notices")).status_code == 403
    assert (
        client.post(
            reverse("followups:notices"),
            {
                "product": product.pk,
                "kind": "news",
                "title": "x",
                "effective_on": timezone.localdate().isoformat(),
            },
        ).status_code
        == 403
    )
    assert ProductNotice.objects.count() == 1


@pytest.mark.parametrize("name", ["rules", "compliance", "requests", "request_report", "absences", "notices"])
def test_pages_render_in_english(client, org_world, name):
    client.cookies["django_language"] = "en"
    page = html(login(client, org_world.owner).get(reverse(f"followups:{name}")))
    assert 'lang="en"' in page


def _queries(client, url) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert client.get(url).status_code == 200
    return len(ctx.captured_queries)


def _grow(w, n):
    today = timezone.localdate()
    product = ProductFactory(organisation=w.org)
    for i in range(n):
        c = CustomerFactory(owner=w.rep1 if i % 2 else w.rep2)
        TaskFactory(customer=c, due_on=today)
        req.request_log(actor=w.owner, customer_id=c.pk, summary=f"r{i}", channel="call")
        ContactRuleFactory(organisation=w.org, trigger="birthday" if i % 2 else "delivered")
        ProductNotice.objects.create(
            organisation=w.org, product=product, kind="news", title=f"n{i}", effective_on=today
        )
        Absence.objects.create(
            organisation=w.org,
            user=w.rep1 if i % 2 else w.rep2,
            delegate=w.rep3,
            starts_on=today + dt.timedelta(days=10 * i),
            ends_on=today + dt.timedelta(days=10 * i),
        )


@pytest.mark.parametrize(
    "name", ["rules", "compliance", "task_report", "requests", "request_report", "absences", "notices"]
)
def test_list_pages_do_not_query_per_row(client, org_world, name):
    w = org_world
    login(client, w.owner)
    url = reverse(f"followups:{name}")
    _grow(w, 2)
    small = _queries(client, url)
    _grow(w, 10)
    assert _queries(client, url) == small
