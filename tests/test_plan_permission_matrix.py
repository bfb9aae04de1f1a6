"""The contact plan's pages × every role × someone else's object: allowed, or refused with nothing changed.

The API half is in ``test_plan_api_matrix.py``; both halves share the world and the tables below.
Every expected cell is written out here from the rules in the code, not recomputed with the
permission functions, so a change that widens (or narrows) access fails here:

- customers (``permissions.customer_scope``, default policy): owner the whole organisation;
  manager1 store s1 and team t1, manager2 store s2 and team t2; a rep their own customers;
  DCRC the whole organisation; after-sales their store (s1); other_owner the other organisation;
- tasks (``selectors.task_scope``): a task on a customer in scope, plus a task assigned to the
  viewer even when the viewer does not own its customer (``cover``: rep3's customer in s2, routed
  to rep1). Only the assignee, the owner and managers work a task (outcome, move); only the owner
  and managers reassign;
- outbox (``outbox.selectors``): customer scope for owner, managers, DCRC and reps; after-sales
  have no outbox (pages 403, API ids 404, lists empty);
- customer requests (``requests``): customer scope; every active member may log and reply;
- rules: owner and managers read, only the owner edits; gifts: owner and managers edit;
- absences (``compliance.people_scope``) and product notices: owner and managers only, for the
  people they review and the products of their own organisation.

Outside the viewer's scope an object does not exist (404, never 403, so ids cannot be probed);
inside it, an action the role may never take is 403. Every refusal leaves the database as it was
(``snapshot``); every allowed write changes it.

The world is the root ``org_world`` plus ``tests/conftest.py``'s ``world`` (rebuilt here so it can
be built once per module: see ``plan_base``) with, on each target, a task, an SMS, print batches,
a queued letter and a customer request. Without login: the ICS feed (a signed token), the provider
webhooks (a shared secret) and the unsubscribe link (a signed token) are checked at the end.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from django.core import signing
from django.db import transaction
from django.test import Client
from django.utils import timezone

from huitou.customers.models import Activity, Consent
from huitou.followups import ics
from huitou.followups.models import (
    Absence,
    Channel,
    ContactRule,
    CustomerRequest,
    Gift,
    Message,
    PrintBatch,
    ProductNotice,
    Purpose,
    Task,
)
from huitou.followups.outbox import services as outbox_services
from tests.factories import (
    ContactRuleFactory,
    CustomerFactory,
    GiftFactory,
    MessageFactory,
    OrganisationFactory,
    ProductFactory,
    StoreFactory,
    TaskFactory,
    TeamFactory,
    UserFactory,
)
from tests.test_api_permission_matrix import snapshot as customer_snapshot

ROLES = ["owner", "manager1", "manager2", "rep1", "rep2", "rep3", "dcrc", "aftersales", "other_owner"]
# Objects on a customer: rep1's customer in s1, rep3's customer in s2, the other organisation's,
# and an id that exists nowhere.
TARGETS = ["rep1_s1", "rep3_s2", "other_org", "guessed"]
# Tasks have one more: rep3's customer (s2), the task routed to rep1 (covering for rep3).
TASK_TARGETS = ["rep1_s1", "rep3_s2", "cover", "other_org", "guessed"]
# Organisation-wide objects (rules, gifts, products): the huanan group's, the other group's.
ORG_TARGETS = ["org", "other_org", "guessed"]
# People (absences, whose plan to open): rep1 (s1, t1), rep3 (s2, t2), a rep of the other group.
PEOPLE_TARGETS = ["rep1", "rep3", "other_rep", "guessed"]
# Print batches: one letter each, and one batch holding a letter of rep1's and one of rep3's customer.
BATCH_TARGETS = ["rep1_s1", "rep3_s2", "mixed", "other_org", "guessed"]

# ---------------------------------------------------------------- the expected tables

# Customers each role can see (customer_scope).
CUSTOMER_VISIBLE: dict[str, set[str]] = {
    "owner": {"rep1_s1", "rep3_s2"},
    "manager1": {"rep1_s1"},
    "manager2": {"rep3_s2"},
    "rep1": {"rep1_s1"},
    "rep2": set(),
    "rep3": {"rep3_s2"},
    "dcrc": {"rep1_s1", "rep3_s2"},
    "aftersales": {"rep1_s1"},
    "other_owner": {"other_org"},
}
# Tasks each role can see (task_scope): the customer's, plus those assigned to the viewer.
TASK_VISIBLE: dict[str, set[str]] = {
    "owner": {"rep1_s1", "rep3_s2", "cover"},
    "manager1": {"rep1_s1", "cover"},  # cover: on a customer of s2, but assigned to rep1 of their team
    "manager2": {"rep3_s2", "cover"},
    "rep1": {"rep1_s1", "cover"},  # cover: assigned to rep1
    "rep2": set(),
    "rep3": {"rep3_s2", "cover"},  # cover: rep3 owns the customer
    "dcrc": {"rep1_s1", "rep3_s2", "cover"},
    "aftersales": {"rep1_s1"},
    "other_owner": {"other_org"},
}
# Tasks each role may work (record an outcome, move): the assignee, the owner and managers.
TASK_WORKABLE: dict[str, set[str]] = {
    "owner": {"rep1_s1", "rep3_s2", "cover"},
    "manager1": {"rep1_s1", "cover"},
    "manager2": {"rep3_s2", "cover"},
    "rep1": {"rep1_s1", "cover"},
    "rep2": set(),
    "rep3": {"rep3_s2"},  # sees cover (their customer) but it is rep1's to work
    "dcrc": set(),
    "aftersales": set(),
    "other_owner": {"other_org"},
}
# The owner and managers: reassign tasks, edit gifts, record absences and product notices.
PLAN_MANAGERS = {"owner", "manager1", "manager2", "other_owner"}
# Who each task is assigned to.
TASK_ASSIGNEE = {"rep1_s1": "rep1", "rep3_s2": "rep3", "cover": "rep1", "other_org": "other_rep"}
# Whose Today / calendar / route each role may open with ?user= (their own always).
PLAN_USERS: dict[str, set[str]] = {
    "owner": {"rep1", "rep3"},
    "manager1": {"rep1"},
    "manager2": {"rep3"},
    "rep1": {"rep1"},  # themselves
    "rep2": set(),
    "rep3": {"rep3"},  # themselves
    "dcrc": set(),
    "aftersales": set(),
    "other_owner": {"other_rep"},
}
# Messages each role can see (after-sales have no outbox).
OUTBOX_VISIBLE: dict[str, set[str]] = {**CUSTOMER_VISIBLE, "aftersales": set()}
OUTBOX_ROLES = set(ROLES) - {"aftersales"}
# Print batches each role can open, and how many pages (its letters they may see) each shows.
BATCH_PAGES: dict[str, dict[str, int]] = {
    "owner": {"rep1_s1": 1, "rep3_s2": 1, "mixed": 2},
    "manager1": {"rep1_s1": 1, "mixed": 1},
    "manager2": {"rep3_s2": 1, "mixed": 1},
    "rep1": {"rep1_s1": 1, "mixed": 1},
    "rep2": {},
    "rep3": {"rep3_s2": 1, "mixed": 1},
    "dcrc": {"rep1_s1": 1, "rep3_s2": 1, "mixed": 2},
    "aftersales": {},
    "other_owner": {"other_org": 1},
}
# Customer requests: customer scope; any active member may log, acknowledge and answer.
REQUEST_VISIBLE = CUSTOMER_VISIBLE
# Rules: the owner and managers read them (their organisation's); only the owner edits.
RULE_READERS = {"owner", "manager1", "manager2", "other_owner"}
RULE_EDITORS = {"owner", "other_owner"}
# Organisation-wide objects each role's organisation holds.
OWN_ORG: dict[str, str] = {r: "org" for r in ROLES} | {"other_owner": "other_org"}
# People whose absences each role records (people_scope); None: the role records none (403).
ABSENCE_PEOPLE: dict[str, set[str] | None] = {
    "owner": {"rep1", "rep3"},
    "manager1": {"rep1"},
    "manager2": {"rep3"},
    "rep1": None,
    "rep2": None,
    "rep3": None,
    "dcrc": None,
    "aftersales": None,
    "other_owner": {"other_rep"},
}
# Whom each manager hands a task to when reassigning (someone within their reach).
REASSIGN_TO = {"owner": "rep2", "manager1": "rep2", "manager2": "manager2", "other_owner": "other_rep2"}

TITLES = {"rep1_s1": "矩阵任务甲", "rep3_s2": "矩阵任务乙", "cover": "矩阵任务丙", "other_org": "矩阵任务丁"}
SMS_BODIES = {"rep1_s1": "矩阵短信甲", "rep3_s2": "矩阵短信乙", "other_org": "矩阵短信丁"}
SUMMARIES = {"rep1_s1": "矩阵请求甲", "rep3_s2": "矩阵请求乙", "other_org": "矩阵请求丁"}
CUSTOMER_NAMES = {"rep1_s1": "天河客户", "rep3_s2": "番禺客户", "other_org": "别家客户"}


def shown(text: str, markers: dict[str, str]) -> set[str]:
    return {name for name, marker in markers.items() if marker in text}


# ---------------------------------------------------------------- the world


GUESS_GAP = 100_000  # far past any id the tests create (PostgreSQL does not roll sequences back)


def _org_world() -> SimpleNamespace:
    """The same dealer group as the root ``org_world`` fixture, plus the ``world`` of
    ``tests/conftest.py``: one customer per target and two reps in the other organisation."""
    org = OrganisationFactory(name="华南汽车集团", slug="huanan")
    s1 = StoreFactory(organisation=org, name="天河店", code="TH")
    s2 = StoreFactory(organisation=org, name="番禺店", code="PY")
    t1: Any = TeamFactory(store=s1, organisation=org, name="天河一组")
    t2: Any = TeamFactory(store=s2, organisation=org, name="番禺一组")
    owner = UserFactory(username="owner", role="owner", organisation=org)
    manager1 = UserFactory(username="manager1", role="manager", organisation=org, store=s1)
    manager2 = UserFactory(username="manager2", role="manager", organisation=org, store=s2)
    t1.manager = manager1
    t1.save()
    t2.manager = manager2
    t2.save()
    w = SimpleNamespace(
        org=org, s1=s1, s2=s2, t1=t1, t2=t2, owner=owner, manager1=manager1, manager2=manager2
    )
    w.rep1 = UserFactory(username="rep1", role="rep", organisation=org, store=s1, team=t1)
    w.rep2 = UserFactory(username="rep2", role="rep", organisation=org, store=s1, team=t1)
    w.rep3 = UserFactory(username="rep3", role="rep", organisation=org, store=s2, team=t2)
    w.dcrc = UserFactory(username="dcrc", role="dcrc", organisation=org, store=s1)
    w.aftersales = UserFactory(username="aftersales", role="aftersales", organisation=org, store=s1)
    w.other_org = OrganisationFactory(name="别家集团", slug="other")
    w.other_store = StoreFactory(organisation=w.other_org, code="OT")
    w.other_owner = UserFactory(
        username="other_owner", role="owner", organisation=w.other_org, store=w.other_store
    )
    w.other_rep = UserFactory(username="other_rep", role="rep", organisation=w.other_org, store=w.other_store)
    w.other_rep2 = UserFactory(
        username="other_rep2", role="rep", organisation=w.other_org, store=w.other_store
    )
    w.customers = {
        "rep1_s1": CustomerFactory(owner=w.rep1, name="天河客户", phone="+8613811110001"),
        "rep3_s2": CustomerFactory(owner=w.rep3, name="番禺客户", phone="+8613811110002"),
        "other_org": CustomerFactory(owner=w.other_rep, name="别家客户", phone="+8613811110003"),
    }
    w.ids = {name: c.pk for name, c in w.customers.items()}
    w.ids["guessed"] = max(w.ids.values()) + GUESS_GAP
    return w


@pytest.fixture(scope="module")
def plan_base(django_db_setup, django_db_blocker):
    """The world, built once per module inside a transaction that is rolled back at the end; each
    test runs in a savepoint of it (Django's ``setUpTestData`` pattern), so a write one test is
    allowed to make is gone for the next. Tests must not change the objects held here in memory."""
    with django_db_blocker.unblock():
        atomic = transaction.atomic()
        atomic.__enter__()
        try:
            yield _build_plan_world()
        finally:
            transaction.set_rollback(True)
            atomic.__exit__(None, None, None)


@pytest.fixture
def plan_world(plan_base, db):
    return plan_base


def _build_plan_world() -> SimpleNamespace:
    """The world plus, on each target customer, an open visit due today, a failed SMS, a printed
    letter, a queued letter and an open request; the cover task; rules, gifts, products and
    absences in both organisations."""
    w = _org_world()
    today = timezone.localdate()
    now = timezone.now()
    w.today = today
    c = w.customers
    w.people = {"rep1": w.rep1, "rep3": w.rep3, "other_rep": w.other_rep}
    for customer in c.values():
        customer.address = "天河路1号"
        customer.city = "广州"
        customer.save(update_fields=["address", "city"])

    def task(customer_key: str, assignee: Any, target: str) -> Any:
        return TaskFactory(
            customer=c[customer_key],
            assignee=assignee,
            kind=Channel.VISIT,
            due_on=today,
            title=TITLES[target],
        )

    w.tasks = {
        "rep1_s1": task("rep1_s1", w.rep1, "rep1_s1"),
        "rep3_s2": task("rep3_s2", w.rep3, "rep3_s2"),
        "cover": task("rep3_s2", w.rep1, "cover"),
        "other_org": task("other_org", w.other_rep, "other_org"),
    }
    later = now + dt.timedelta(days=30)
    w.messages = {
        key: MessageFactory(
            customer=c[key],
            channel=Channel.SMS,
            purpose=Purpose.SERVICE,
            status=Message.Status.FAILED,
            last_error="provider said no",
            body=SMS_BODIES[key],
            scheduled_for=later,
        )
        for key in SMS_BODIES
    }

    def letter(key: str, **kwargs: Any) -> Any:
        return MessageFactory(
            customer=c[key],
            channel=Channel.LETTER,
            purpose=Purpose.SERVICE,
            to="广州天河路1号",
            body="矩阵信件",
            **kwargs,
        )

    def batch(org: Any, keys: list[str]) -> PrintBatch:
        b = PrintBatch.objects.create(organisation=org, count=len(keys))
        for key in keys:
            letter(key, status=Message.Status.SENT, batch=b, sent_at=now, scheduled_for=now)
        return b

    w.batches = {
        "rep1_s1": batch(w.org, ["rep1_s1"]),
        "rep3_s2": batch(w.org, ["rep3_s2"]),
        "mixed": batch(w.org, ["rep1_s1", "rep3_s2"]),
        "other_org": batch(w.other_org, ["other_org"]),
    }
    w.queued_letters = {
        key: letter(key, status=Message.Status.QUEUED, scheduled_for=now - dt.timedelta(hours=1))
        for key in SMS_BODIES
    }
    w.requests = {
        key: CustomerRequest.objects.create(
            organisation=c[key].organisation,
            customer=c[key],
            summary=SUMMARIES[key],
            received_at=now,
            reply_due_at=now + dt.timedelta(hours=3),
            owner=c[key].owner,
            logged_by=c[key].owner,
        )
        for key in SUMMARIES
    }
    w.rules = {
        "org": ContactRuleFactory(organisation=w.org, code="matrix-rule", name="矩阵规则"),
        "other_org": ContactRuleFactory(organisation=w.other_org, code="matrix-rule", name="别家规则"),
    }
    w.gifts = {
        "org": GiftFactory(organisation=w.org, name="矩阵礼品"),
        "other_org": GiftFactory(organisation=w.other_org, name="别家礼品"),
    }
    w.products = {
        "org": ProductFactory(organisation=w.org, name="矩阵车型"),
        "other_org": ProductFactory(organisation=w.other_org, name="别家车型"),
    }
    away = today + dt.timedelta(days=30)
    w.absences = {
        key: Absence.objects.create(
            organisation=user.organisation, user=user, starts_on=away, ends_on=away + dt.timedelta(days=2)
        )
        for key, user in w.people.items()
    }

    def ids(objects: dict[str, Any]) -> dict[str, int]:
        out = {k: o.pk for k, o in objects.items()}
        return out | {"guessed": max(out.values()) + GUESS_GAP}

    w.pk = {
        "customer": dict(w.ids),
        "task": ids(w.tasks),
        "message": ids(w.messages),
        "batch": ids(w.batches),
        "queued_letter": ids(w.queued_letters),
        "request": ids(w.requests),
        "rule": ids(w.rules),
        "gift": ids(w.gifts),
        "product": ids(w.products),
        "absence": ids(w.absences),
        "user": ids(w.people),
    }
    return w


def snapshot(w: SimpleNamespace) -> dict[str, Any]:
    """Everything a refused request of the contact plan could have touched."""
    return {
        **customer_snapshot(w),
        "tasks": list(Task.objects.order_by("pk").values()),
        "activities": list(Activity.objects.order_by("pk").values_list("pk", flat=True)),
        "messages": list(Message.objects.order_by("pk").values()),
        "batches": list(PrintBatch.objects.order_by("pk").values()),
        "requests": list(CustomerRequest.objects.order_by("pk").values()),
        "rules": list(ContactRule.objects.order_by("pk").values()),
        "gifts": list(Gift.objects.order_by("pk").values()),
        "absences": list(Absence.objects.order_by("pk").values()),
        "notices": list(ProductNotice.objects.order_by("pk").values()),
        "consent_rows": list(Consent.objects.order_by("pk").values()),
    }


def login(user: Any) -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE="en")
    client.force_login(user)
    return client


def other_day(w: SimpleNamespace, days: int) -> str:
    return (w.today + dt.timedelta(days=days)).isoformat()


# ---------------------------------------------------------------- pages on one object


@dataclass(frozen=True)
class Page:
    name: str
    method: str
    path: str  # {id} is the target's id
    family: str  # which ids: task, message, batch, request, customer, rule, gift, absence
    targets: list[str]
    expected: Callable[[str, str], int]  # (role, target) → status
    data: Callable[[SimpleNamespace, str, str], dict[str, Any]] | None = None


def _task_expected(action: str) -> Callable[[str, str], int]:
    def expected(role: str, target: str) -> int:
        if target not in TASK_VISIBLE[role]:
            return 404
        if action == "work" and target not in TASK_WORKABLE[role]:
            return 403
        if action == "reassign" and role not in PLAN_MANAGERS:
            return 403
        return 302

    return expected


def _outbox_expected(role: str, target: str) -> int:
    if role not in OUTBOX_ROLES:
        return 403  # the page refuses the role before looking anything up
    return 302 if target in OUTBOX_VISIBLE[role] else 404


def _batch_expected(role: str, target: str) -> int:
    if role not in OUTBOX_ROLES:
        return 403
    return 200 if target in BATCH_PAGES[role] else 404


def _request_expected(role: str, target: str) -> int:
    return 302 if target in REQUEST_VISIBLE[role] else 404


def _customer_expected(ok: int) -> Callable[[str, str], int]:
    return lambda role, target: ok if target in CUSTOMER_VISIBLE[role] else 404


def _rule_expected(ok: int, edit: bool) -> Callable[[str, str], int]:
    def expected(role: str, target: str) -> int:
        if role not in RULE_READERS:
            return 403  # a rep, DCRC or after-sales may not even read the rules
        if target != OWN_ORG[role]:
            return 404
        if edit and role not in RULE_EDITORS:
            return 403
        return ok

    return expected


def _gift_expected(role: str, target: str) -> int:
    if role not in PLAN_MANAGERS:
        return 403
    return 302 if target == OWN_ORG[role] else 404


def _absence_delete_expected(role: str, target: str) -> int:
    people = ABSENCE_PEOPLE[role]
    if people is None:
        return 403
    return 302 if target in people else 404


def _rule_form(w: SimpleNamespace, role: str, target: str) -> dict[str, Any]:
    return {
        "code": "matrix-rule",
        "name": "矩阵规则改名",
        "trigger": "delivered",
        "offset_days": "7",
        "channel": "call",
        "purpose": "service",
        "priority": "60",
        "assignee": "owner",
        "active": "on",
        "version": "1",
    }


PAGES = [
    Page(
        "task_outcome",
        "post",
        "/plan/tasks/{id}/outcome/",
        "task",
        TASK_TARGETS,
        _task_expected("work"),
        data=lambda w, r, t: {"outcome": "reached", "note": "矩阵"},
    ),
    Page(
        "task_reschedule",
        "post",
        "/plan/tasks/{id}/reschedule/",
        "task",
        TASK_TARGETS,
        _task_expected("work"),
        data=lambda w, r, t: {"due_on": other_day(w, 10)},
    ),
    Page(
        "task_reassign",
        "post",
        "/plan/tasks/{id}/reassign/",
        "task",
        TASK_TARGETS,
        _task_expected("reassign"),
        data=lambda w, r, t: {"assignee_id": getattr(w, REASSIGN_TO.get(r, "rep2")).pk},
    ),
    Page("customer_plan", "get", "/plan/customer/{id}/", "customer", TARGETS, _customer_expected(200)),
    Page(
        "task_create",
        "post",
        "/plan/tasks/new/?customer={id}",
        "customer",
        TARGETS,
        _customer_expected(302),
        data=lambda w, r, t: {
            "kind": "call",
            "title": "手工矩阵",
            "due_on": other_day(w, 3),
            "purpose": "service",
        },
    ),
    Page(
        "task_create_form",
        "get",
        "/plan/tasks/new/?customer={id}",
        "customer",
        TARGETS,
        _customer_expected(200),
    ),
    Page("outbox_cancel", "post", "/plan/outbox/{id}/cancel/", "message", TARGETS, _outbox_expected),
    Page("outbox_retry", "post", "/plan/outbox/{id}/retry/", "message", TARGETS, _outbox_expected),
    Page("print_pdf", "get", "/plan/outbox/print/{id}/pdf/", "batch", BATCH_TARGETS, _batch_expected),
    Page(
        "request_ack",
        "post",
        "/plan/requests/{id}/acknowledge/",
        "request",
        TARGETS,
        _request_expected,
        data=lambda w, r, t: {"note": "已告知客户"},
    ),
    Page(
        "request_answer",
        "post",
        "/plan/requests/{id}/answer/",
        "request",
        TARGETS,
        _request_expected,
        data=lambda w, r, t: {"note": "已答复"},
    ),
    Page("rule_read", "get", "/plan/rules/{id}/", "rule", ORG_TARGETS, _rule_expected(200, edit=False)),
    Page(
        "rule_edit",
        "post",
        "/plan/rules/{id}/",
        "rule",
        ORG_TARGETS,
        _rule_expected(302, edit=True),
        data=_rule_form,
    ),
    Page(
        "rule_active",
        "post",
        "/plan/rules/{id}/active/",
        "rule",
        ORG_TARGETS,
        _rule_expected(302, edit=True),
        data=lambda w, r, t: {"active": "0", "version": "1"},
    ),
    Page(
        "gift_active",
        "post",
        "/plan/gifts/{id}/active/",
        "gift",
        ORG_TARGETS,
        _gift_expected,
        data=lambda w, r, t: {"active": "0"},
    ),
    Page(
        "absence_delete",
        "post",
        "/plan/absences/{id}/delete/",
        "absence",
        PEOPLE_TARGETS,
        _absence_delete_expected,
    ),
]

# Actions whose view answers htmx with a redrawn row instead of a redirect: both ways are tried.
HTMX_PAGES = {
    "task_outcome",
    "task_reschedule",
    "task_reassign",
    "outbox_cancel",
    "outbox_retry",
    "request_ack",
    "request_answer",
    "rule_active",
}

PAGE_CELLS = [
    pytest.param(page, role, target, htmx, id=f"{page.name}{'-htmx' if htmx else ''}-{role}-{target}")
    for page in PAGES
    for htmx in ([False, True] if page.name in HTMX_PAGES else [False])
    for role in ROLES
    for target in page.targets
]


@pytest.mark.parametrize(("page", "role", "target", "htmx"), PAGE_CELLS)
def test_page_on_object(plan_world, page, role, target, htmx):
    w = plan_world
    expected = page.expected(role, target)
    if htmx and expected == 302:
        expected = 200  # the row, redrawn in place
    client = login(getattr(w, role))
    url = page.path.format(id=w.pk[page.family][target])
    headers = {"HX-Request": "true"} if htmx else {}
    before = snapshot(w)

    if page.method == "get":
        response = client.get(url, headers=headers)
    else:
        response = client.post(url, page.data(w, role, target) if page.data else {}, headers=headers)

    assert response.status_code == expected, (response.status_code, response.content[:300])
    after = snapshot(w)
    if expected >= 400:
        assert after == before, "a refused request changed the database"
    elif page.method == "post":
        assert after != before, "an allowed write changed nothing"
        assert "error:" not in _flash(response), _flash(response)


def _flash(response: Any) -> str:
    """The messages the view queued for the next page, as "level:text" (a write the service
    refused shows as an error)."""
    storage = getattr(response.wsgi_request, "_messages", None)
    queued = getattr(storage, "_queued_messages", [])
    return " ".join(f"{m.level_tag}:{m.message}" for m in queued)


@pytest.mark.parametrize("role", ROLES)
def test_print_batch_pdf_holds_only_the_viewers_letters(plan_world, role):
    """A batch mixing two reps' customers prints, for each viewer, only the pages they may see."""
    import io

    from pypdf import PdfReader

    w = plan_world
    client = login(getattr(w, role))
    for target, pages in BATCH_PAGES[role].items():
        response = client.get(f"/plan/outbox/print/{w.pk['batch'][target]}/pdf/")
        assert response.status_code == 200
        assert len(PdfReader(io.BytesIO(response.content)).pages) == pages, target


# ---------------------------------------------------------------- whose plan: Today, calendar, route

PLAN_USER_TARGETS = ["self", *PEOPLE_TARGETS]


def _plan_user_id(w: SimpleNamespace, target: str) -> int | None:
    return None if target == "self" else w.pk["user"][target]


def plan_shown(role: str, target: str) -> set[str]:
    """Tasks the page lists: those assigned to the person looked at that the viewer can see."""
    person = role if target == "self" else target
    return {t for t in TASK_VISIBLE[role] if TASK_ASSIGNEE[t] == person}


def plan_expected(role: str, target: str) -> int:
    return 200 if target == "self" or target in PLAN_USERS[role] else 404


PLAN_PAGES = {
    "today": "/plan/today/",
    "calendar": "/plan/calendar/",
    "route": "/plan/route/",
}


@pytest.mark.parametrize("target", PLAN_USER_TARGETS)
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("page", sorted(PLAN_PAGES))
def test_plan_of_another_person(plan_world, page, role, target):
    w = plan_world
    client = login(getattr(w, role))
    params: dict[str, Any] = {}
    user_id = _plan_user_id(w, target)
    if user_id is not None:
        params["user"] = user_id
    if page == "route":
        params["day"] = w.today.isoformat()

    response = client.get(PLAN_PAGES[page], params)

    assert response.status_code == plan_expected(role, target)
    if response.status_code != 200:
        return
    html = response.content.decode()
    assert shown(html, TITLES) == plan_shown(role, target)
    if page == "calendar":
        # The feed link (a credential of its own) is offered for one's own calendar only.
        assert (ics.ics_token(getattr(w, role)) in html) == (target == "self" or target == role)
        if target in w.people and target != role:
            assert ics.ics_token(w.people[target]) not in html


# ---------------------------------------------------------------- lists show exactly the scope


@pytest.mark.parametrize("role", ROLES)
def test_outbox_list_shows_exactly_the_scope(plan_world, role):
    client = login(getattr(plan_world, role))
    response = client.get("/plan/outbox/")
    if role not in OUTBOX_ROLES:
        assert response.status_code == 403
        return
    assert response.status_code == 200
    assert shown(response.content.decode(), SMS_BODIES) == OUTBOX_VISIBLE[role]


@pytest.mark.parametrize("role", ROLES)
def test_request_list_shows_exactly_the_scope(plan_world, role):
    client = login(getattr(plan_world, role))
    response = client.get("/plan/requests/")
    assert response.status_code == 200
    assert shown(response.content.decode(), SUMMARIES) == REQUEST_VISIBLE[role]


@pytest.mark.parametrize("role", ROLES)
def test_request_customer_picker_finds_only_the_scope(plan_world, role):
    w = plan_world
    client = login(getattr(w, role))
    by_id = set()
    for target in CUSTOMER_NAMES:
        response = client.get("/plan/requests/customers/", {"q": str(w.pk["customer"][target])})
        assert response.status_code == 200
        by_id |= shown(response.content.decode(), {target: CUSTOMER_NAMES[target]})
    by_phone = set()
    for target, name in CUSTOMER_NAMES.items():
        response = client.get("/plan/requests/customers/", {"q": w.customers[target].phone[3:]})
        by_phone |= shown(response.content.decode(), {target: name})
    assert by_id == CUSTOMER_VISIBLE[role]
    assert by_phone == CUSTOMER_VISIBLE[role]


@pytest.mark.parametrize("role", ROLES)
def test_rule_preview_fills_in_only_a_visible_sample_customer(plan_world, role):
    w = plan_world
    client = login(getattr(w, role))
    named = set()
    for target in TARGETS:
        response = client.get(
            "/plan/rules/preview/", {"template": "您好{name}", "sample_customer": w.pk["customer"][target]}
        )
        if role not in RULE_READERS:
            assert response.status_code == 403
            continue
        assert response.status_code == 200
        named |= shown(response.content.decode(), {t: n for t, n in CUSTOMER_NAMES.items() if t == target})
    assert named == (CUSTOMER_VISIBLE[role] if role in RULE_READERS else set())


@pytest.mark.parametrize("role", ROLES)
def test_gift_warning_only_for_visible_customers(plan_world, role):
    """The "already given" warning names who gave what; outside the scope it is not found."""
    w = plan_world
    client = login(getattr(w, role))
    gift = w.gifts[OWN_ORG[role]]
    for target in TARGETS:
        response = client.get(
            "/plan/gift-warning/", {"customer": w.pk["customer"][target], "gift_id": gift.pk}
        )
        assert response.status_code == (200 if target in CUSTOMER_VISIBLE[role] else 404), target
    other_gift = w.gifts["other_org" if OWN_ORG[role] == "org" else "org"]
    for target in CUSTOMER_VISIBLE[role]:
        response = client.get(
            "/plan/gift-warning/", {"customer": w.pk["customer"][target], "gift_id": other_gift.pk}
        )
        assert response.status_code == 404, "another organisation's gift"


# Tasks behind the compliance numbers: (customer in scope or assigned to the viewer) and an
# assignee the viewer reviews (people_scope: the owner everyone, a manager their teams and store,
# anyone else themselves).
COMPLIANCE_TASKS: dict[str, set[str]] = {
    "owner": {"rep1_s1", "rep3_s2", "cover"},
    "manager1": {"rep1_s1", "cover"},  # cover is assigned to rep1 of their team
    "manager2": {"rep3_s2"},  # cover's customer is in s2, but its assignee rep1 is not manager2's
    "rep1": {"rep1_s1", "cover"},
    "rep2": set(),
    "rep3": {"rep3_s2"},  # cover is on rep3's customer but assigned to rep1
    "dcrc": set(),
    "aftersales": set(),
    "other_owner": {"other_org"},
}


@pytest.mark.parametrize("role", ROLES)
def test_compliance_task_report_lists_exactly_the_reviewed_tasks(plan_world, role):
    response = login(getattr(plan_world, role)).get("/plan/tasks/")
    assert response.status_code == 200
    assert shown(response.content.decode(), TITLES) == COMPLIANCE_TASKS[role]


@pytest.mark.parametrize("role", ROLES)
def test_customer_plan_block_shows_only_what_the_viewer_may_see(plan_world, role):
    """The plan block on a customer page: open tasks of that customer the viewer can see, and its
    recent outbox messages only for roles that have an outbox."""
    w = plan_world
    client = login(getattr(w, role))
    tasks_on = {"rep1_s1": {"rep1_s1"}, "rep3_s2": {"rep3_s2", "cover"}, "other_org": {"other_org"}}
    for target in CUSTOMER_VISIBLE[role]:
        html = client.get(f"/plan/customer/{w.pk['customer'][target]}/").content.decode()
        assert shown(html, TITLES) == tasks_on[target] & TASK_VISIBLE[role], target
        assert shown(html, SMS_BODIES) == {target} & OUTBOX_VISIBLE[role], target


# ---------------------------------------------------------------- pages a role may or may not open

MANAGE_PAGES: dict[str, set[str]] = {
    "/plan/today/": set(ROLES),
    "/plan/calendar/": set(ROLES),
    "/plan/route/": set(ROLES),
    "/plan/gifts/": set(ROLES),
    "/plan/outbox/": OUTBOX_ROLES,
    "/plan/outbox/print/": OUTBOX_ROLES,
    "/plan/rules/": RULE_READERS,
    "/plan/rules/new/": RULE_EDITORS,
    "/plan/rules/preview/": RULE_READERS,
    "/plan/compliance/": set(ROLES),
    "/plan/tasks/": set(ROLES),
    "/plan/requests/": set(ROLES),
    "/plan/requests/report/": set(ROLES),
    "/plan/requests/customers/": set(ROLES),
    "/plan/absences/": PLAN_MANAGERS,
    "/plan/notices/": PLAN_MANAGERS,
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("path", sorted(MANAGE_PAGES))
def test_role_pages(plan_world, path, role):
    response = login(getattr(plan_world, role)).get(path)
    assert response.status_code == (200 if role in MANAGE_PAGES[path] else 403)


# ---------------------------------------------------------------- creating things


def _create_cell(role: str, target: str, allowed: set[str] | None, ok: int) -> int:
    if allowed is None:
        return 403
    return ok if target in allowed else 422


@pytest.mark.parametrize("target", PEOPLE_TARGETS)
@pytest.mark.parametrize("role", ROLES)
def test_absence_create_page(plan_world, role, target):
    """Someone outside the people the manager reviews is not among the form's choices (422)."""
    w = plan_world
    expected = _create_cell(role, target, ABSENCE_PEOPLE[role], 302)
    before = snapshot(w)
    response = login(getattr(w, role)).post(
        "/plan/absences/",
        {"user": w.pk["user"][target], "starts_on": other_day(w, 60), "ends_on": other_day(w, 61)},
    )
    assert response.status_code == expected
    if expected == 302:
        assert Absence.objects.filter(
            user_id=w.pk["user"][target], starts_on=w.today + dt.timedelta(days=60)
        ).exists()
    else:
        assert snapshot(w) == before


@pytest.mark.parametrize("target", ORG_TARGETS)
@pytest.mark.parametrize("role", ROLES)
def test_notice_create_page(plan_world, role, target):
    w = plan_world
    own = {OWN_ORG[role]} if role in PLAN_MANAGERS else None
    expected = _create_cell(role, target, own, 302)
    before = snapshot(w)
    response = login(getattr(w, role)).post(
        "/plan/notices/",
        {
            "product": w.pk["product"][target],
            "kind": "price",
            "title": "降价通知",
            "effective_on": other_day(w, 1),
        },
    )
    assert response.status_code == expected
    if expected == 302:
        assert ProductNotice.objects.filter(product_id=w.pk["product"][target]).count() == 1
    else:
        assert snapshot(w) == before


@pytest.mark.parametrize("role", ROLES)
def test_gift_create_page(plan_world, role):
    w = plan_world
    before = snapshot(w)
    response = login(getattr(w, role)).post("/plan/gifts/", {"name": "矩阵新礼品", "value": "20", "note": ""})
    if role in PLAN_MANAGERS:
        assert response.status_code == 302
        gift = Gift.objects.get(name="矩阵新礼品")
        assert gift.organisation_id == getattr(w, role).organisation_id
    else:
        assert response.status_code == 403
        assert snapshot(w) == before


@pytest.mark.parametrize("role", ROLES)
def test_rule_create_page(plan_world, role):
    w = plan_world
    before = snapshot(w)
    data = _rule_form(w, role, "") | {"code": "matrix-new", "name": "矩阵新规则"}
    data.pop("version")
    response = login(getattr(w, role)).post("/plan/rules/new/", data)
    if role in RULE_EDITORS:
        assert response.status_code == 302, response.content[:500]
        rule = ContactRule.objects.get(code="matrix-new")
        assert rule.organisation_id == getattr(w, role).organisation_id
    else:
        assert response.status_code == 403
        assert snapshot(w) == before


@pytest.mark.parametrize("target", TARGETS)
@pytest.mark.parametrize("role", ROLES)
def test_request_log_page(plan_world, role, target):
    """Logging a request for a customer out of reach is a form error that reveals nothing."""
    w = plan_world
    expected = 302 if target in CUSTOMER_VISIBLE[role] else 422
    before = snapshot(w)
    response = login(getattr(w, role)).post(
        "/plan/requests/log/",
        {"customer_id": w.pk["customer"][target], "summary": "矩阵新请求", "channel": "call"},
    )
    assert response.status_code == expected
    if expected == 302:
        assert CustomerRequest.objects.filter(
            summary="矩阵新请求", customer_id=w.pk["customer"][target]
        ).exists()
    else:
        assert snapshot(w) == before


@pytest.mark.parametrize("role", ROLES)
def test_print_page_batches_only_the_viewers_letters(plan_world, role):
    w = plan_world
    before = snapshot(w)
    response = login(getattr(w, role)).post("/plan/outbox/print/", {"channel": "letter"})
    if role not in OUTBOX_ROLES:
        assert response.status_code == 403
        assert snapshot(w) == before
        return
    assert response.status_code == 302
    batched = {
        key for key, m in w.queued_letters.items() if Message.objects.get(pk=m.pk).batch_id is not None
    }
    assert batched == OUTBOX_VISIBLE[role]


# ---------------------------------------------------------------- references into another organisation


def test_reassign_to_someone_out_of_reach_changes_nothing(plan_world):
    w = plan_world
    cases = [
        ("manager1", "rep1_s1", w.rep3),  # rep3 is in s2 / t2
        ("owner", "rep1_s1", w.other_rep),  # another organisation
        ("manager2", "rep3_s2", w.rep1),
    ]
    for role, target, assignee in cases:
        before = snapshot(w)
        response = login(getattr(w, role)).post(
            f"/plan/tasks/{w.pk['task'][target]}/reassign/", {"assignee_id": assignee.pk}
        )
        assert response.status_code == 302, (role, target)
        assert "error:" in _flash(response), (role, target)
        assert snapshot(w) == before, (role, target, assignee.username)


def test_absence_delegate_of_another_organisation_is_refused(plan_world):
    w = plan_world
    before = snapshot(w)
    response = login(w.owner).post(
        "/plan/absences/",
        {
            "user": w.rep1.pk,
            "starts_on": other_day(w, 60),
            "ends_on": other_day(w, 61),
            "delegate": w.other_rep.pk,
        },
    )
    assert response.status_code == 422
    assert snapshot(w) == before


def test_task_outcome_with_another_organisations_gift_changes_nothing(plan_world):
    w = plan_world
    before = snapshot(w)
    response = login(w.rep1).post(
        f"/plan/tasks/{w.pk['task']['rep1_s1']}/outcome/",
        {"outcome": "gift_given", "gift_id": w.gifts["other_org"].pk},
    )
    assert response.status_code == 404
    assert snapshot(w) == before


# ---------------------------------------------------------------- someone who has left, with a live session


@pytest.mark.parametrize("role", ["owner", "manager1", "rep1", "dcrc"])
def test_a_person_who_left_reaches_nothing(plan_world, role):
    """``left_at`` set, session still open: every object is gone, every role-only page refused."""
    from huitou.accounts.models import User

    w = plan_world
    gone = User.objects.get(pk=getattr(w, role).pk)  # a copy: the world's objects stay as they are
    gone.left_at = timezone.now()
    gone.save(update_fields=["left_at"])
    client = login(gone)
    task, message, request = w.pk["task"]["rep1_s1"], w.pk["message"]["rep1_s1"], w.pk["request"]["rep1_s1"]
    rule, gift, absence = w.pk["rule"]["org"], w.pk["gift"]["org"], w.pk["absence"]["rep1"]
    cases = [
        ("post", f"/plan/tasks/{task}/outcome/", {"outcome": "reached"}, 404),
        ("post", f"/plan/tasks/{task}/reschedule/", {"due_on": other_day(w, 10)}, 404),
        ("post", f"/plan/tasks/{task}/reassign/", {"assignee_id": w.rep2.pk}, 404),
        ("get", f"/plan/customer/{w.pk['customer']['rep1_s1']}/", None, 404),
        ("post", f"/plan/outbox/{message}/cancel/", None, 403),
        ("get", f"/plan/outbox/print/{w.pk['batch']['rep1_s1']}/pdf/", None, 403),
        ("post", f"/plan/requests/{request}/acknowledge/", None, 404),
        ("get", f"/plan/rules/{rule}/", None, 403),
        ("post", f"/plan/rules/{rule}/active/", {"active": "0"}, 403),
        ("post", f"/plan/gifts/{gift}/active/", {"active": "0"}, 403),
        ("post", "/plan/gifts/", {"name": "离职礼品", "value": "1"}, 403),
        ("post", f"/plan/absences/{absence}/delete/", None, 403),
        ("get", "/plan/compliance/", None, 403),
        ("get", "/plan/absences/", None, 403),
        ("get", "/plan/notices/", None, 403),
    ]
    before = snapshot(w)
    for method, url, data, status in cases:
        response = client.get(url) if method == "get" else client.post(url, data or {})
        assert response.status_code == status, (url, response.status_code)
    assert snapshot(w) == before
    for url in ("/plan/today/", "/plan/calendar/", f"/plan/route/?day={w.today.isoformat()}"):
        response = client.get(url)
        assert response.status_code == 200
        assert shown(response.content.decode(), TITLES) == set(), url
    assert client.get(f"/plan/ics/{ics.ics_token(gone)}.ics").status_code == 404


# ---------------------------------------------------------------- the ICS feed (no login, a signed token)


def _feed_task_ids(content: bytes) -> set[int]:
    return {int(m) for m in re.findall(rb"UID:task-(\d+)@", content)}


@pytest.mark.parametrize("person", ["rep1", "rep3", "other_rep", "owner", "dcrc"])
def test_ics_feed_shows_only_that_persons_tasks(plan_world, person):
    w = plan_world
    user = getattr(w, person)
    response = Client().get(f"/plan/ics/{ics.ics_token(user)}.ics")
    assert response.status_code == 200
    expected = {w.tasks[t].pk for t, who in TASK_ASSIGNEE.items() if who == person}
    assert _feed_task_ids(response.content) == expected


def test_ics_feed_refuses_tampered_and_foreign_tokens(plan_world):
    w = plan_world
    good = ics.ics_token(w.rep1)
    value, signature = good.split(":", 1)
    tampered = [
        f"{w.rep3.pk}:{signature}",  # another person's id with rep1's signature
        f"{value}:{signature[:-1]}{'A' if signature[-1] != 'A' else 'B'}",  # one character changed
        signing.Signer().sign(str(w.rep1.pk)),  # signed without the feed's salt
        signing.Signer(salt="huitou.outbox.unsubscribe").sign(str(w.rep1.pk)),
        signing.Signer(salt=ics.SALT).sign(str(w.pk["user"]["guessed"])),  # nobody
        str(w.rep1.pk),
    ]
    for token in tampered:
        response = Client().get(f"/plan/ics/{token}.ics")
        assert response.status_code == 404, token
    gone: Any = UserFactory(username="left_rep", role="rep", organisation=w.org, store=w.s1)
    gone.left_at = timezone.now()
    gone.save(update_fields=["left_at"])
    assert Client().get(f"/plan/ics/{ics.ics_token(gone)}.ics").status_code == 404


# ---------------------------------------------------------------- webhooks and unsubscribe (no login)

HOOK = "/plan/outbox/hooks/{provider}/{kind}/"
PROVIDERS = ["generic", "aliyun", "tencent"]


def _sent_sms(w: SimpleNamespace, provider: str = "generic") -> Any:
    return MessageFactory(
        customer=w.customers["rep1_s1"],
        channel=Channel.SMS,
        purpose=Purpose.MARKETING,
        status=Message.Status.SENT,
        idempotency_key="matrix-sent",
        provider=provider,
        provider_message_id="matrix-sid",
    )


def _hook_payload(w: SimpleNamespace, provider: str, kind: str, sent: Message) -> Any:
    """A report that would change something: the sent SMS delivered, or an opt-out reply."""
    national = w.customers["rep1_s1"].phone.removeprefix("+86")
    if provider == "aliyun":
        if kind == "status":
            return [{"out_id": sent.idempotency_key, "success": True}]
        return [{"phone_number": national, "content": "退订"}]
    if provider == "tencent":
        if kind == "status":
            return [{"sid": sent.provider_message_id, "report_status": "SUCCESS"}]
        return [{"mobile": national, "nationcode": "86", "text": "退订"}]
    if kind == "status":
        return {"provider": provider, "out_id": sent.idempotency_key, "status": "delivered"}
    return {"phone": w.customers["rep1_s1"].phone, "text": "退订"}


@pytest.fixture
def hook_secret(settings):
    settings.OUTBOX = {**settings.OUTBOX, "WEBHOOK_SECRET": "matrix-secret"}
    return "matrix-secret"


def _hook_cases(provider: str, kind: str) -> list[tuple[str, dict[str, str]]]:
    """(url, headers) a caller without the secret might try."""
    base = HOOK.format(provider=provider, kind=kind)
    return [
        (base, {}),
        (base, {"X-Huitou-Webhook-Secret": "wrong"}),
        (base, {"X-Huitou-Webhook-Secret": ""}),
        (base, {"X-Huitou-Webhook-Secret": "matrix-secret "}),
        (base + "wrong/", {}),
        (base + "matrix-secre/", {}),
    ]


@pytest.mark.parametrize("kind", ["status", "inbound"])
@pytest.mark.parametrize("provider", PROVIDERS)
def test_webhook_without_the_secret_is_refused_and_changes_nothing(plan_world, hook_secret, provider, kind):
    w = plan_world
    sent = _sent_sms(w, provider)
    payload = json.dumps(_hook_payload(w, provider, kind, sent))
    before = snapshot(w)
    for url, headers in _hook_cases(provider, kind):
        response = Client().post(url, payload, content_type="application/json", headers=headers)
        assert response.status_code == 403, (url, headers)
        assert snapshot(w) == before
    # With the secret (in the header, or in the path) the same call is accepted and changes
    # something: the refusals above were refusals, not a payload that does nothing.
    response = Client().post(
        HOOK.format(provider=provider, kind=kind) + hook_secret + "/",
        payload,
        content_type="application/json",
    )
    assert response.status_code == 200
    assert snapshot(w) != before


def test_webhooks_are_refused_when_no_secret_is_configured(plan_world, settings):
    w = plan_world
    settings.OUTBOX = {**settings.OUTBOX, "WEBHOOK_SECRET": ""}
    sent = _sent_sms(w)
    before = snapshot(w)
    for url, headers in [
        (HOOK.format(provider="generic", kind="status"), {}),
        (HOOK.format(provider="generic", kind="status"), {"X-Huitou-Webhook-Secret": ""}),
        (HOOK.format(provider="generic", kind="status") + "x/", {}),
    ]:
        response = Client().post(
            url,
            json.dumps({"out_id": sent.idempotency_key, "status": "delivered"}),
            content_type="application/json",
            headers=headers,
        )
        assert response.status_code == 403
    assert snapshot(w) == before


def test_webhook_of_an_unknown_provider_is_not_found(plan_world, hook_secret):
    w = plan_world
    before = snapshot(w)
    response = Client().post(
        "/plan/outbox/hooks/nobody/status/",
        "{}",
        content_type="application/json",
        headers={"X-Huitou-Webhook-Secret": hook_secret},
    )
    assert response.status_code == 404
    assert snapshot(w) == before


def test_unsubscribe_needs_a_valid_signature(plan_world):
    w = plan_world
    customer = w.customers["rep1_s1"]
    good = outbox_services.unsubscribe_token(customer_id=customer.pk, channel="sms")
    bad_tokens = [
        good[:-1] + ("A" if good[-1] != "A" else "B"),
        signing.dumps({"c": customer.pk, "ch": "sms"}, salt="something-else", compress=True),
        signing.dumps({"c": customer.pk, "ch": "sms"}, compress=True),
        ics.ics_token(w.rep1),
        outbox_services.unsubscribe_token(customer_id=w.ids["guessed"], channel="sms"),
        outbox_services.unsubscribe_token(customer_id=customer.pk, channel="carrier-pigeon"),
        "x",
    ]
    before = snapshot(w)
    for token in bad_tokens:
        assert Client().get(f"/plan/u/{token}/").status_code == 400, token
        assert Client().post(f"/plan/u/{token}/").status_code == 400, token
        assert snapshot(w) == before
    # Opening a valid link only asks; only the confirmation changes the consent.
    assert Client().get(f"/plan/u/{good}/").status_code == 200
    assert snapshot(w) == before
    assert Client().post(f"/plan/u/{good}/").status_code == 200
    assert Consent.objects.get(customer=customer, channel="sms").granted is False


# ---------------------------------------------------------------- no session: the login page

LOGIN_PAGES = [
    ("get", "/plan/today/"),
    ("get", "/plan/calendar/"),
    ("get", "/plan/route/"),
    ("get", "/plan/gifts/"),
    ("get", "/plan/outbox/"),
    ("get", "/plan/outbox/print/"),
    ("get", "/plan/rules/"),
    ("get", "/plan/compliance/"),
    ("get", "/plan/requests/"),
    ("get", "/plan/absences/"),
    ("get", "/plan/notices/"),
    ("get", "/plan/tasks/"),
]


def test_anonymous_is_sent_to_login_everywhere(plan_world):
    w = plan_world
    client = Client()
    urls = [(m, p) for m, p in LOGIN_PAGES]
    for page in PAGES:
        urls.append((page.method, page.path.format(id=w.pk[page.family][page.targets[0]])))
    before = snapshot(w)
    for method, url in urls:
        response = client.get(url) if method == "get" else client.post(url, {})
        assert response.status_code == 302 and "/accounts/login/" in response["Location"], url
    assert snapshot(w) == before
