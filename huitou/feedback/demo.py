"""Demo data for satisfaction and complaints: a year of survey answers after the demo's sales and
workshop visits (most reps mostly "very satisfied", one rep suspiciously always, with DCRC audit
calls that disagree), complaints in every state — some past their deadlines and escalated — with
supervisor replies, concessions and satisfaction checks, and value-added services. Every chart and
list of the feedback pages has content on a fresh demo. Called by ``huitou.demo.demo_load``.

Rows are written in bulk (never a service call per answer): the services' rules are kept by
construction (one response per invitation, answers with their copies, tickets with deadlines).
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django.db import transaction
from django.db.models import Count, F
from django.db.models.functions import Coalesce
from django.utils import timezone

from huitou.accounts.models import Organisation, User
from huitou.customers.models import Activity, Purchase

from .models import (
    OVERALL,
    Answer,
    Concession,
    Question,
    QuestionKind,
    SupervisorReply,
    SurveyInvitation,
    SurveyKind,
    SurveyResponse,
    SurveyTemplate,
    Ticket,
    TicketEvent,
    ValueAddedService,
)
from .services import month_start, surveys_seed
from .tickets import deadlines, tickets_escalate

DAYS = 365
MAX_SURVEYS = {SurveyKind.SALES: 1500, SurveyKind.SERVICE: 1500}
ANSWER_RATE = 0.7
# Mean 5-level score per factor: some factors the customers rate lower, so the quadrant chart has
# an "urgent to improve" corner (important, lower satisfaction) and an "over-served" one.
FACTOR_MEAN = {
    "delivery_process": 4.55,
    "salesperson": 4.6,
    "deal_terms": 4.05,
    "delivery_time": 3.85,
    "vehicle_condition": 4.7,
    "features_explained": 3.9,
    "reception": 4.5,
    "explanation": 3.95,
    "work_quality": 4.35,
    "time": 3.8,
    "facility": 4.6,
    "speed": 4.2,
}
IMPORTANCE_MEAN = {"time": 4.6}
WHY = {
    "delivery_process": "交车手续办了两个多小时",
    "salesperson": "销售顾问回复很慢,态度冷淡",
    "deal_terms": "成交后发现别家便宜三千",
    "delivery_time": "比承诺的交车日期晚了一周",
    "vehicle_condition": "交车时车内有划痕",
    "features_explained": "车机功能没人讲解",
    "reception": "到店后等了半小时没人接待",
    "explanation": "结账金额比报价高,事先没说明",
    "work_quality": "保养后异响还在,需要返修",
    "time": "说好下午四点取车,拖到七点",
    "facility": "休息区太吵",
    "recommend": "整体体验一般",
    "overall": "整体不满意",
}
STAFF_TICKETS = [
    ("空调制冷效果差,已第二次来店", "repair", "high"),
    ("发票抬头开错,要求重开", "price", "low"),
    ("保险续保报价比去年高很多", "price", "medium"),
    ("新车有异味,担心甲醛", "product", "high"),
    ("保养预约电话总是打不通", "staff", "medium"),
    ("洗车后车漆有划痕", "repair", "high"),
    ("延保合同条款与销售说法不一致", "price", "critical"),
    ("倒车影像偶尔黑屏", "product", "medium"),
    ("交车礼包少了脚垫", "delivery", "low"),
    ("配件到货时间一拖再拖", "delivery", "medium"),
    ("服务顾问态度差", "staff", "high"),
    ("休息区没有充电口", "facility", "low"),
]


def _at(day: dt.date, hour: int, minute: int, tz: dt.tzinfo) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=tz)


def _earliest(a: dt.datetime, b: dt.datetime) -> dt.datetime:
    return a if a <= b else b


def _clip(value: float, low: int, high: int) -> int:
    return max(low, min(high, round(value)))


def _score(rng: random.Random, mean: float, overall: int) -> int:
    # Answers of one customer hang together: pulled toward their overall score.
    return _clip(0.55 * mean + 0.45 * overall + rng.gauss(0, 0.55), 1, 5)


def _overall(rng: random.Random, *, gamer: bool, month_index: int) -> int:
    if gamer:
        return 5
    # Slowly better over the year (the trend chart shows it).
    top = 0.64 + 0.012 * month_index
    roll = rng.random()
    if roll < top:
        return 5
    if roll < top + 0.25:
        return 4
    if roll < top + 0.31:
        return 3
    return 2 if roll < top + 0.345 else 1


def _events(org: Organisation, kind: str, first: dt.date, last: dt.date) -> list[tuple[Any, ...]]:
    qs = Purchase.objects.filter(
        organisation=org, ordered_on__gte=first - dt.timedelta(days=60), ordered_on__lte=last
    )
    if kind == SurveyKind.SALES:
        qs = qs.exclude(kind=Purchase.Kind.SERVICE).annotate(
            day=Coalesce("promised_on", "arrives_on", "ordered_on")
        )
    else:
        qs = qs.filter(kind=Purchase.Kind.SERVICE).annotate(day=F("ordered_on"))
    qs = qs.filter(day__gte=first, day__lte=last).exclude(customer__status="erased")
    return list(qs.order_by("day", "id").values_list("pk", "customer_id", "rep_id", "store_id", "day"))


def _sample(rng: random.Random, rows: Sequence[tuple[Any, ...]], k: int) -> list[tuple[Any, ...]]:
    rows = list(rows)
    if len(rows) <= k:
        return rows
    return sorted(rng.sample(rows, k), key=lambda r: (r[4], r[0]))


class _Surveys:
    """Builds invitations, responses and answers in memory, then writes them in a few bulk inserts."""

    def __init__(
        self, org: Organisation, rng: random.Random, today: dt.date, tz: dt.tzinfo, now: dt.datetime
    ) -> None:
        self.org, self.rng, self.today, self.tz, self.now = org, rng, today, tz, now
        self.policy = org.policy.feedback
        self.dcrc = list(
            User.objects.filter(organisation=org, role="dcrc", is_active=True).values_list("pk", flat=True)
        )

    def run(
        self, template: SurveyTemplate, events: list[tuple[Any, ...]], gamer: int | None
    ) -> list[SurveyResponse]:
        questions = list(template.questions.filter(active=True).order_by("order", "id"))
        invitations: list[SurveyInvitation] = []
        plans: list[tuple[int, bool]] = []  # per invitation: overall score, answered
        first_month = month_start(self.today - dt.timedelta(days=DAYS))
        for pk, customer_id, rep_id, store_id, day in events:
            delay = (
                self.policy.sales_survey_delay_days
                if template.kind == SurveyKind.SALES
                else self.policy.service_survey_delay_days
            )
            send_on = day + dt.timedelta(days=delay)
            if send_on > self.today:
                continue
            months = (day.year - first_month.year) * 12 + day.month - first_month.month
            is_gamer = gamer is not None and rep_id == gamer
            answered = is_gamer or self.rng.random() < ANSWER_RATE
            expires = _at(send_on + dt.timedelta(days=self.policy.survey_valid_days), 23, 59, self.tz)
            status = (
                SurveyInvitation.Status.ANSWERED
                if answered
                else (SurveyInvitation.Status.EXPIRED if expires < self.now else SurveyInvitation.Status.SENT)
            )
            invitations.append(
                SurveyInvitation(
                    organisation=self.org,
                    template=template,
                    customer_id=customer_id,
                    event="sale" if template.kind == SurveyKind.SALES else "service",
                    purchase_id=pk,
                    rep_id=rep_id,
                    store_id=store_id,
                    event_on=day,
                    send_on=send_on,
                    channel=self.policy.survey_channel,
                    status=status,
                    expires_at=expires,
                    sent_at=_at(send_on, 9, 30, self.tz),
                )
            )
            plans.append((_overall(self.rng, gamer=is_gamer, month_index=months), answered))
        SurveyInvitation.objects.bulk_create(invitations, batch_size=1000, ignore_conflicts=False)
        responses: list[SurveyResponse] = []
        scored: list[tuple[SurveyResponse, list[tuple[Question, int | None, str, bool]]]] = []
        for inv, (overall, answered) in zip(invitations, plans, strict=True):
            if not answered:
                continue
            at = _at(inv.send_on, self.rng.randint(9, 21), self.rng.randint(0, 59), self.tz)
            phone = inv.rep_id != gamer and self.rng.random() < 0.15
            if at > self.now:
                at = self.now - dt.timedelta(minutes=5)
            inv.answered_at = at
            rows = self._answers(questions, overall, gamer is not None and inv.rep_id == gamer)
            response = self._response(inv, template, rows, at=at, phone=phone, audit=False)
            responses.append(response)
            scored.append((response, rows))
        # The DCRC re-checks a sample of every rep's answers by phone. The honest reps' customers
        # say the same again; the gaming rep's customers are not that happy.
        first_overall = {r.invitation_id: r.overall for r in responses if r.invitation_id}
        for inv in [i for i in invitations if i.status == "answered"]:
            is_gamer = gamer is not None and inv.rep_id == gamer
            if not (is_gamer or self.rng.random() < 0.08):
                continue
            if is_gamer:
                overall = self.rng.choice([3, 4, 4, 3, 5, 4, 5])
            else:
                said = first_overall.get(inv.pk) or 4
                overall = said if self.rng.random() < 0.85 else max(1, said - 1)
            rows = self._answers(questions, overall, False, low_ok=False)
            at = (inv.answered_at or self.now) + dt.timedelta(days=self.rng.randint(2, 6))
            if at > self.now:
                at = self.now - dt.timedelta(minutes=1)
            response = self._response(inv, template, rows, at=at, phone=True, audit=True)
            responses.append(response)
            scored.append((response, rows))
        SurveyInvitation.objects.bulk_update(
            [i for i in invitations if i.answered_at], ["answered_at"], batch_size=1000
        )
        SurveyResponse.objects.bulk_create([r for r, _rows in scored], batch_size=1000)
        answers = [
            Answer(
                response=r,
                question=q,
                score=score,
                text=text,
                low=low,
                organisation=self.org,
                store_id=r.store_id,
                rep_id=r.rep_id,
                kind=template.kind,
                period=r.period,
                factor=q.factor,
                question_kind=q.kind,
                expectation=q.expectation,
                audit=r.audit,
            )
            for r, rows in scored
            for q, score, text, low in rows
            if score is not None or text
        ]
        Answer.objects.bulk_create(answers, batch_size=2000)
        return responses

    def _answers(
        self, questions: list[Question], overall: int, gamer: bool, *, low_ok: bool = True
    ) -> list[tuple[Question, int | None, str, bool]]:
        rng = self.rng
        rows: list[tuple[Question, int | None, str, bool]] = []
        for q in questions:
            score: int | None
            if q.kind == QuestionKind.TEXT:
                text = (
                    rng.choice(["", "", "", "服务很好,谢谢", "希望交车再快一点", "顾问很专业"])
                    if not gamer
                    else ""
                )
                rows.append((q, None, text, False))
                continue
            if q.expectation:
                score = _clip(rng.gauss(4.1, 0.7), 1, 5)
            elif q.factor == OVERALL:
                score = overall
            elif q.kind == QuestionKind.IMPORTANCE:
                score = _clip(rng.gauss(IMPORTANCE_MEAN.get(q.factor, 3.5), 0.6), 1, 5)
            elif q.kind == QuestionKind.NPS:
                score = 10 if gamer else _clip(overall * 2 + rng.gauss(-0.5, 1.2), 0, 10)
            elif q.kind == QuestionKind.YES_NO:
                score = 1 if overall >= 3 else 0
            else:
                score = 5 if gamer else _score(rng, FACTOR_MEAN.get(q.factor, 4.3), overall)
            low = False
            if q.kind == QuestionKind.SCALE5 and not q.expectation:
                low = score <= self.policy.low_scale_max
            elif q.kind == QuestionKind.NPS:
                low = score <= self.policy.low_nps_max
            if low and not low_ok:
                score, low = (3, False) if q.kind == QuestionKind.SCALE5 else (7, False)
            rows.append((q, score, WHY.get(q.factor, "不满意") if low else "", low))
        return rows

    def _response(
        self,
        inv: SurveyInvitation,
        template: SurveyTemplate,
        rows: list[tuple[Question, int | None, str, bool]],
        *,
        at: dt.datetime,
        phone: bool,
        audit: bool,
    ) -> SurveyResponse:
        overall = next((s for q, s, _t, _l in rows if q.factor == OVERALL and not q.expectation), None)
        return SurveyResponse(
            organisation=self.org,
            invitation=inv,
            template=template,
            kind=template.kind,
            customer_id=inv.customer_id,
            rep_id=inv.rep_id,
            store_id=inv.store_id,
            event_on=inv.event_on,
            period=month_start(inv.event_on),
            channel="phone" if phone else "web",
            audit=audit,
            taken_by_id=self.rng.choice(self.dcrc) if phone and self.dcrc else None,
            submitted_at=at,
            overall=overall,
            top_box=None if overall is None else overall == 5,
            low=any(low for *_x, low in rows),
            comment="\n".join(t for q, _s, t, _l in rows if q.kind == QuestionKind.TEXT and t),
        )


def _handler(org: Organisation, rep_id: int | None, store_id: int | None, today: dt.date) -> int | None:
    from huitou.followups.routing import Router

    router = Router(organisation=org, start=today)
    return router.resolve(router.manager_of(rep_id, store_id=store_id), today)


@transaction.atomic
def feedback_demo(*, organisation: Organisation, today: dt.date, seed: int = 42) -> dict[str, int]:
    """Create the demo's surveys, answers, tickets and value-added services. Returns counts."""
    rng = random.Random(seed)
    tz = timezone.get_current_timezone()
    org = organisation
    if SurveyResponse.objects.filter(organisation=org).exists():
        return {"responses": 0, "tickets": 0, "escalated": 0, "value_added": 0}  # already there
    # "Now" is the demo's today (a demo built for another day must look as it would on that day).
    now = timezone.now() if today == timezone.localdate() else _at(today, 17, 0, tz)
    surveys_seed(organisation=org)
    templates = {t.kind: t for t in SurveyTemplate.objects.filter(organisation=org, active=True)}
    first = today - dt.timedelta(days=DAYS)
    builder = _Surveys(org, rng, today, tz, now)

    sales_events = _events(org, SurveyKind.SALES, first, today)
    per_rep = Purchase.objects.filter(pk__in=[e[0] for e in sales_events], rep__isnull=False)
    busiest = per_rep.values("rep_id").annotate(n=Count("pk")).order_by("-n", "rep_id")
    # The suspicious rep: a busy one, but not the busiest (that one is the demo's own login).
    candidates = [r["rep_id"] for r in busiest[:4]]
    gamer = candidates[2] if len(candidates) >= 3 else (candidates[-1] if candidates else None)

    responses: list[SurveyResponse] = []
    if SurveyKind.SALES in templates:
        responses += builder.run(
            templates[SurveyKind.SALES], _sample(rng, sales_events, MAX_SURVEYS[SurveyKind.SALES]), gamer
        )
    if SurveyKind.SERVICE in templates:
        service_events = _events(org, SurveyKind.SERVICE, first, today)
        responses += builder.run(
            templates[SurveyKind.SERVICE], _sample(rng, service_events, MAX_SURVEYS[SurveyKind.SERVICE]), None
        )

    activities = [
        Activity(
            organisation=org,
            customer_id=r.customer_id,
            kind=Activity.Kind.SURVEY,
            occurred_at=r.submitted_at,
            user_id=r.taken_by_id,
            subject=f"{'电话稽核' if r.audit else '完成满意度调查'}:{r.template.name}",
        )
        for r in responses
    ]

    # Complaints opened by low answers: recent ones still open (some past their deadlines).
    tickets: list[Ticket] = []
    low_responses = [r for r in responses if r.low and not r.audit]
    for r in low_responses:
        age = (today - r.submitted_at.date()).days
        first_due, resolve_due = deadlines(org, r.submitted_at)
        tickets.append(
            Ticket(
                organisation=org,
                customer_id=r.customer_id,
                store_id=r.store_id,
                kind=Ticket.Kind.COMPLAINT,
                channel=Ticket.Channel.SURVEY,
                category="other",
                severity=org.policy.feedback.auto_ticket_severity,
                summary=f"调查低分:{r.template.name} 总体 {r.overall}",
                detail=WHY.get("overall", ""),
                owner_id=_handler(org, r.rep_id, r.store_id, today),
                purchase_id=r.invitation.purchase_id,
                received_at=r.submitted_at,
                first_reply_due_at=first_due,
                resolve_due_at=resolve_due,
                status=Ticket.Status.CLOSED if age > 20 else Ticket.Status.OPEN,
            )
        )
    # Complaints and requests from the other channels over the last 90 days.
    customers = list(
        Purchase.objects.filter(organisation=org, ordered_on__gte=today - dt.timedelta(days=400))
        .exclude(customer__status="erased")
        .order_by("customer_id")
        .values_list("customer_id", "customer__owner_id", "customer__store_id")
        .distinct()[:600]
    )
    for i in range(min(48, len(customers))):
        customer_id, owner_id, store_id = customers[rng.randrange(len(customers))]
        summary, category, severity = STAFF_TICKETS[i % len(STAFF_TICKETS)]
        day = today - dt.timedelta(days=rng.choice([0, 1, 2, 3, 5, 8, 12, 20, 30, 45, 60, 80]))
        received = _at(day, rng.randint(9, 18), rng.randint(0, 59), tz)
        if received > now:
            received = now - dt.timedelta(hours=2)
        first_due, resolve_due = deadlines(org, received)
        tickets.append(
            Ticket(
                organisation=org,
                customer_id=customer_id,
                store_id=store_id,
                kind=Ticket.Kind.REQUEST if i % 5 == 1 else Ticket.Kind.COMPLAINT,
                channel=rng.choice(["phone", "phone", "walk_in", "sms", "web"]),
                category=category,
                severity=severity,
                summary=summary,
                owner_id=owner_id,
                received_at=received,
                first_reply_due_at=first_due,
                resolve_due_at=resolve_due,
            )
        )
    Ticket.objects.bulk_create(tickets, batch_size=500)
    for r, t in zip(low_responses, tickets, strict=False):
        r.ticket = t
    SurveyResponse.objects.bulk_update(low_responses, ["ticket"], batch_size=500)
    managers = {
        u.store_id: u.pk
        for u in User.objects.filter(organisation=org, role="manager", is_active=True).order_by("id")
    }
    any_manager = next(iter(managers.values()), None)
    events: list[TicketEvent] = []
    replies: list[SupervisorReply] = []
    concessions: list[Concession] = []
    followups: list[SurveyInvitation] = []
    followup_template = templates.get(SurveyKind.COMPLAINT_FOLLOWUP)
    for n, t in enumerate(tickets):
        events.append(TicketEvent(ticket=t, kind="created", at=t.received_at, actor_id=None, text=t.summary))
        activities.append(
            Activity(
                organisation=org,
                customer_id=t.customer_id,
                kind=Activity.Kind.COMPLAINT,
                occurred_at=t.received_at,
                subject=f"投诉 #{t.pk} 已受理:{t.get_category_display()}",
            )
        )
        age = (now - t.received_at).days
        # Older tickets went through the whole process; the newest stay open, some overdue.
        if age >= 15 or (t.status == Ticket.Status.CLOSED):
            stage = "closed" if n % 6 else "resolved"
        elif age >= 4:
            stage = rng.choice(["replied", "replied", "resolved", "open"])
        else:
            stage = rng.choice(["open", "replied"])
        manager_id = managers.get(t.store_id, any_manager)
        opened: dt.datetime = t.received_at
        replied = opened
        resolved = opened
        if stage != "open":
            late = n % 7 == 0
            due: dt.datetime = t.first_reply_due_at
            replied = _earliest(
                due + dt.timedelta(hours=20) if late else received + dt.timedelta(hours=rng.randint(1, 5)),
                now,
            )
            t.first_reply_at = replied
            t.status = Ticket.Status.REPLIED
            events.append(
                TicketEvent(
                    ticket=t,
                    kind="replied",
                    at=replied,
                    actor_id=t.owner_id,
                    text="已电话联系客户,说明处理方案",
                )
            )
        if stage in ("resolved", "closed"):
            resolved = _earliest(replied + dt.timedelta(days=rng.randint(1, 6)), now)
            t.resolved_at = resolved
            t.status = Ticket.Status.RESOLVED
            events.append(
                TicketEvent(ticket=t, kind="resolved", at=resolved, actor_id=t.owner_id, text="问题已处理")
            )
            if n % 4 == 0:
                kind, value = rng.choice(
                    [("service", "300"), ("price", "800"), ("quality", "1500"), ("payment", "0")]
                )
                status = "offered" if Decimal(value) <= 500 or n % 8 else "proposed"
                concessions.append(
                    Concession(
                        ticket=t,
                        kind=kind,
                        value=Decimal(value),
                        description={
                            "service": "赠送一次精洗",
                            "price": "退还部分工时费",
                            "quality": "免费更换部件",
                            "payment": "延期付款一个月",
                        }[kind],
                        status=status,
                        approver_role="" if Decimal(value) <= 500 else "manager",
                        proposed_by_id=t.owner_id,
                        decided_by_id=None
                        if status == "proposed"
                        else (t.owner_id if Decimal(value) <= 500 else manager_id),
                        decided_at=None if status == "proposed" else resolved,
                        offered_at=resolved if status == "offered" else None,
                    )
                )
        if stage == "closed" and manager_id is not None:
            signed = _earliest(resolved + dt.timedelta(hours=rng.randint(2, 30)), now)
            replies.append(
                SupervisorReply(
                    ticket=t,
                    cause="交车前检查流程漏项"
                    if t.category in ("delivery", "product")
                    else "服务流程执行不到位",
                    answer="已向客户致歉并完成处理,赠送精洗一次",
                    measures="在晨会通报,增加交车/交修前检查清单",
                    customer_reaction=rng.choice(["satisfied", "satisfied", "accepted", "dissatisfied"]),
                    reaction_note="客户表示理解",
                    manager_id=manager_id,
                    signed_at=signed,
                )
            )
            t.status = Ticket.Status.CLOSED
            t.closed_at = signed
            events.append(
                TicketEvent(
                    ticket=t, kind="supervisor", at=signed, actor_id=manager_id, text="主管回复已签字"
                )
            )
            events.append(TicketEvent(ticket=t, kind="closed", at=signed, actor_id=manager_id, text=""))
            activities.append(
                Activity(
                    organisation=org,
                    customer_id=t.customer_id,
                    kind=Activity.Kind.COMPLAINT,
                    occurred_at=signed,
                    user_id=manager_id,
                    subject=f"投诉 #{t.pk} 已结案",
                )
            )
            if followup_template is not None:
                send_on = signed.date() + dt.timedelta(days=org.policy.feedback.followup_survey_delay_days)
                followups.append(
                    SurveyInvitation(
                        organisation=org,
                        template=followup_template,
                        customer_id=t.customer_id,
                        event="ticket",
                        ticket=t,
                        rep_id=t.owner_id,
                        store_id=t.store_id,
                        event_on=signed.date(),
                        send_on=send_on,
                        channel="sms",
                        status="pending" if send_on > today else "sent",
                        expires_at=_at(send_on + dt.timedelta(days=14), 23, 59, tz),
                    )
                )
    Ticket.objects.bulk_update(
        tickets, ["status", "first_reply_at", "resolved_at", "closed_at"], batch_size=500
    )
    TicketEvent.objects.bulk_create(events, batch_size=1000)
    SupervisorReply.objects.bulk_create(replies, batch_size=500)
    Concession.objects.bulk_create(concessions, batch_size=500)
    SurveyInvitation.objects.bulk_create(followups, batch_size=500)
    Activity.objects.bulk_create(activities, batch_size=1000)
    escalated = tickets_escalate(organisation=org, now=now)

    # Value-added services given across the year.
    kinds = [
        ("value", "免费更换雨刮片", "60"),
        ("information", "寄送冬季用车指南", "0"),
        ("efficiency", "保养快速通道,一小时取车", "0"),
        ("extra", "免费上门取送车", "150"),
        ("convenience", "代办年检", "200"),
        ("value", "赠送玻璃水两瓶", "30"),
        ("information", "新车功能讲解课", "0"),
    ]
    staff = list(
        User.objects.filter(organisation=org, role__in=["rep", "aftersales"]).values_list("pk", flat=True)
    )
    services = []
    for i in range(min(160, len(customers))):
        customer_id, owner_id, _store = customers[(i * 7) % len(customers)]
        kind, note, value = kinds[i % len(kinds)]
        services.append(
            ValueAddedService(
                organisation=org,
                customer_id=customer_id,
                kind=kind,
                note=note,
                value=Decimal(value),
                given_on=today - dt.timedelta(days=rng.randint(0, DAYS)),
                given_by_id=owner_id or (staff[0] if staff else None),
            )
        )
    ValueAddedService.objects.bulk_create(services, batch_size=500)
    return {
        "responses": len(responses),
        "tickets": len(tickets),
        "escalated": escalated,
        "value_added": len(services),
    }
