"""A rep's morning in a real browser: open Today, see the warning for a gift already given, record a
call and plan the next visit without leaving the page; then the manager sees it counted on time."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.utils import timezone

from huitou.customers import services as customer_services
from huitou.followups.models import Channel, Task
from tests.factories import CustomerFactory, GiftFactory, TaskFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def plan(org_world):
    w = org_world
    customer = CustomerFactory(owner=w.rep1, name="王小明", phone="+8613812345678")
    gift = GiftFactory(organisation=w.org, name="车载香薰", value=Decimal("88.00"))
    customer_services.activity_log(
        actor=w.rep1,
        customer_id=customer.pk,
        kind="gift",
        subject="生日礼物",
        gift_name="车载香薰",
        occurred_at=timezone.now() - dt.timedelta(days=200),
    )
    task = TaskFactory(
        customer=customer,
        kind=Channel.CALL,
        title="交车7日回访",
        script="赞扬客户的购买决定",
        due_on=timezone.localdate(),
    )
    return task, gift


def sign_in(page, live_server, username: str) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw-12345678")
    page.click("#login-submit")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_rep_records_a_call_and_plans_the_next_step_then_the_manager_sees_it_on_time(
    page, live_server, org_world, plan
):
    from playwright.sync_api import expect

    task, gift = plan
    sign_in(page, live_server, "rep1")
    page.goto(f"{live_server.url}/plan/today/")
    row = page.locator(f"#task-{task.pk}")
    expect(row).to_have_attribute("data-status", "open")
    expect(row).to_contain_text("王小明")
    expect(row).to_contain_text("交车7日回访")
    expect(page.locator("#count-call")).to_have_text("1")
    page.evaluate("window.__marker = 1")

    # The extra fields: a note, the gift (already given: the warning shows before saving), a next step.
    row.locator("details.more summary").click()
    page.fill(f"#note-{task.pk}", "客户很满意")
    page.select_option(f"#gift-{task.pk}", str(gift.pk))
    expect(page.locator(f"#gift-warning-{task.pk} .gift-warning")).to_contain_text("车载香薰")
    page.select_option(f"#gift-{task.pk}", "")
    expect(page.locator(f"#gift-warning-{task.pk} .gift-warning")).to_have_count(0)
    next_day = timezone.localdate() + dt.timedelta(days=7)
    page.select_option(f"#next-kind-{task.pk}", "visit")
    page.fill(f"#next-due-{task.pk}", next_day.isoformat())

    row.locator('button[data-outcome="reached"]').click()

    done = page.locator(f"#task-{task.pk}")
    expect(done).to_have_attribute("data-status", "done")
    expect(done.locator(".next-step")).to_contain_text(next_day.isoformat())
    expect(page.locator("#count-call")).to_have_text("0")
    assert page.evaluate("window.__marker") == 1  # no page load happened

    task.refresh_from_db()
    assert (task.status, task.outcome, task.note, task.gift_id) == ("done", "reached", "客户很满意", None)
    follow = Task.objects.get(parent=task)
    assert (follow.kind, follow.due_on, follow.status, follow.assignee_id) == (
        "visit",
        next_day,
        "open",
        org_world.rep1.pk,
    )

    page.context.clear_cookies()
    sign_in(page, live_server, "manager1")
    response = page.goto(f"{live_server.url}/plan/compliance/")
    assert response is not None and response.status == 200
    cell = page.locator('tr[data-rep="rep1"] td[data-col="on_time"]')
    expect(cell).to_have_text("1")
