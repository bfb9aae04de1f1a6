"""The contact-plan rules every new organisation starts with (DOMAIN §3 and the dealers' after-sales
routine). They are seed data, not constants: each organisation edits, disables or adds rules.

``TRIGGER_PARAMS`` says which ``params`` keys each trigger reads, with their defaults; the rule
form and ``rules.rule_params_clean`` validate against it.
"""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_noop

from .models import Assignee, Channel, Purpose, Trigger

TRIGGER_PARAMS: dict[str, dict[str, Any]] = {
    Trigger.FESTIVAL: {"festival": "spring"},
    Trigger.REVISIT: {"interval_days": 180, "activity_kinds": ["visit"]},
    Trigger.SEASONAL: {"dates": ["03-01", "06-01", "09-01", "12-01"], "max_purchases_365": 1},
    Trigger.FIRST_SERVICE: {"km": 5000, "months": 6},
    Trigger.MAINTENANCE: {"km": 5000, "months": 6},
    Trigger.INSPECTION: {"ages": [6, 10], "yearly_from": 11, "twice_yearly_from": 16},
    Trigger.PERSONAL_DATE: {"kinds": []},
    # No params: the days after delivery are policy (``referrals.ask_days``), shared with the quota.
    Trigger.REFERRAL_ASK: {},
}

_SALES = ["first", "replacement", "expansion"]


def _rule(code: str, name: str, trigger: str, channel: str, purpose: str, **kw: Any) -> dict[str, Any]:
    return {"code": code, "name": name, "trigger": trigger, "channel": channel, "purpose": purpose, **kw}


DEFAULT_RULES: list[dict[str, Any]] = [
    # After the sale (DOMAIN §3).
    _rule(
        "order-thanks-letter",
        gettext_noop("Thank-you letter confirming the delivery date"),
        Trigger.ORDER_PLACED,
        Channel.LETTER,
        Purpose.TRANSACTIONAL,
        offset_days=1,
        priority=90,
        template="尊敬的{name}:感谢您选择{store}。您订购的{product}预计于{date}交付,我们会按时为您准备好。——{rep}",
    ),
    _rule(
        "ship-day-notice",
        gettext_noop("Ship-day notice"),
        Trigger.SHIPPED,
        Channel.SMS,
        Purpose.TRANSACTIONAL,
        offset_days=0,
        priority=90,
        sms_template_code="SMS_SHIPPED",
        template="{name}您好,您订购的{product}已于今日发出,预计{date}到达。",
    ),
    _rule(
        "arrival-check",
        gettext_noop("Arrival check: did it arrive and does it work?"),
        Trigger.ARRIVAL,
        Channel.CALL,
        Purpose.SERVICE,
        offset_days=1,
        priority=80,
        script="确认货物是否已收到、使用是否正常;如有问题当天记录并答复。",
    ),
    _rule(
        "delivery-call-3d",
        gettext_noop("Call within 3 days of delivery"),
        Trigger.DELIVERED,
        Channel.CALL,
        Purpose.SERVICE,
        offset_days=3,
        priority=85,
        script="问候用车情况,讲解常用功能,确认首保时间;记录客户的意见。",
    ),
    _rule(
        "delivery-call-7d",
        gettext_noop("7-day call: praise and a small gift"),
        Trigger.DELIVERED,
        Channel.CALL,
        Purpose.SERVICE,
        offset_days=7,
        priority=80,
        # The delivery photo and the referral ask of the same day are the referral-ask rule's task.
        script="赞扬客户的购买决定,提起销售洽谈时的个人话题;送上小礼品。",
    ),
    _rule(
        "delivery-manager-call",
        gettext_noop("Manager's call within 7 days of delivery"),
        Trigger.DELIVERED,
        Channel.CALL,
        Purpose.SERVICE,
        offset_days=6,
        priority=75,
        assignee=Assignee.MANAGER,
        script="以销售经理身份感谢客户,了解对销售顾问和交车过程的满意度。",
    ),
    _rule(
        "delivery-sample-call-1m",
        gettext_noop("Sample call one month after delivery"),
        Trigger.DELIVERED,
        Channel.CALL,
        Purpose.SERVICE,
        offset_days=30,
        priority=60,
        assignee=Assignee.DCRC,
        script="抽样回访:使用情况、满意度、是否有抱怨;提醒首次保养。",
    ),
    # 一拓一 (DOMAIN §5): at delivery, with the delivery photo, then through the 3-month peak.
    _rule(
        "referral-ask",
        gettext_noop("Ask for a referral"),
        Trigger.REFERRAL_ASK,
        Channel.CALL,
        Purpose.SERVICE,
        offset_days=0,
        priority=75,
        script="推荐表当场录入系统（点“填写推荐表”）；经DCRC电话稽核确认后计入一拓一指标。",
    ),
    _rule(
        "service-followup",
        gettext_noop("Follow-up call after a workshop visit"),
        Trigger.SERVICE_VISIT,
        Channel.CALL,
        Purpose.SERVICE,
        offset_days=2,
        priority=80,
        assignee=Assignee.AFTERSALES,
        script="确认维修保养效果,询问对接待、说明、质量和时间的满意度。",
    ),
    # Service reminders for cars.
    _rule(
        "first-service-reminder",
        gettext_noop("First-service reminder (5,000 km or 6 months)"),
        Trigger.FIRST_SERVICE,
        Channel.SMS,
        Purpose.SERVICE,
        offset_days=-7,
        priority=85,
        params={"km": 5000, "months": 6},
        sms_template_code="SMS_FIRST_SERVICE",
        template="{name}您好,您的{product}即将到首次保养时间({date}前后),欢迎预约。",
    ),
    _rule(
        "maintenance-reminder",
        gettext_noop("Periodic maintenance reminder (5,000 km / 6 months)"),
        Trigger.MAINTENANCE,
        Channel.SMS,
        Purpose.SERVICE,
        offset_days=-7,
        priority=70,
        params={"km": 5000, "months": 6},
        sms_template_code="SMS_MAINTENANCE",
        template="{name}您好,您的{product}预计{date}前后需要定期保养,欢迎预约。",
    ),
    *[
        _rule(
            f"insurance-renewal-{d}d",
            gettext_noop("Insurance renewal reminder"),
            Trigger.INSURANCE,
            Channel.CALL if d == 30 else Channel.SMS,
            Purpose.SERVICE,
            offset_days=-d,
            priority=75,
            sms_template_code="" if d == 30 else "SMS_INSURANCE",
            template="{name}您好,您的{product}车险将于{date}到期,请及时续保。",
            script="提醒车险到期日,介绍续保方案。",
        )
        for d in (30, 15, 7)
    ],
    _rule(
        "annual-inspection",
        gettext_noop("Annual inspection reminder"),
        Trigger.INSPECTION,
        Channel.SMS,
        Purpose.SERVICE,
        offset_days=-30,
        priority=65,
        params=dict(TRIGGER_PARAMS[Trigger.INSPECTION]),
        sms_template_code="SMS_INSPECTION",
        template="{name}您好,您的{product}应于{date}前完成年检,欢迎预约代办。",
    ),
    # Relationship: birthdays, personal dates, festivals.
    _rule(
        "birthday-card",
        gettext_noop("Birthday card"),
        Trigger.BIRTHDAY,
        Channel.CARD,
        Purpose.MARKETING,
        offset_days=-5,
        priority=70,
        template="亲爱的{name}:祝您生日快乐,万事如意!——{store} {rep}",
    ),
    _rule(
        "birthday-sms",
        gettext_noop("Birthday greeting on the day"),
        Trigger.BIRTHDAY,
        Channel.SMS,
        Purpose.MARKETING,
        offset_days=0,
        priority=65,
        sms_template_code="SMS_BIRTHDAY",
        template="{name},今天是您的生日,{store}全体同仁祝您生日快乐!",
    ),
    _rule(
        "personal-date-greeting",
        gettext_noop("Greeting on a personal date (wedding day, ...)"),
        Trigger.PERSONAL_DATE,
        Channel.SMS,
        Purpose.MARKETING,
        offset_days=0,
        priority=55,
        params={"kinds": []},
        sms_template_code="SMS_ANNIVERSARY",
        template="{name},祝您{occasion}快乐!",
    ),
    _rule(
        "spring-festival-card",
        gettext_noop("Spring Festival card"),
        Trigger.FESTIVAL,
        Channel.CARD,
        Purpose.MARKETING,
        offset_days=-10,
        priority=60,
        params={"festival": "spring"},
        template="{name}:恭祝新春快乐,阖家幸福!——{store} {rep}",
    ),
    *[
        _rule(
            f"festival-{code}",
            name,
            Trigger.FESTIVAL,
            Channel.SMS,
            Purpose.MARKETING,
            offset_days=0,
            priority=40,
            params={"festival": code},
            sms_template_code="SMS_FESTIVAL",
            template="{name},{store}祝您{festival}快乐!",
        )
        for code, name in (
            ("new_years_eve", gettext_noop("New Year's Eve greeting")),
            ("lantern", gettext_noop("Lantern Festival greeting")),
            ("dragon_boat", gettext_noop("Dragon Boat Festival greeting")),
            ("mid_autumn", gettext_noop("Mid-Autumn Festival greeting")),
            ("double_ninth", gettext_noop("Double Ninth greeting")),
            ("new_year", gettext_noop("New Year greeting")),
            ("national_day", gettext_noop("National Day greeting")),
        )
    ],
    *[
        _rule(
            f"festival-{code}",
            name,
            Trigger.FESTIVAL,
            Channel.SMS,
            Purpose.MARKETING,
            offset_days=0,
            priority=30,
            params={"festival": code},
            sms_template_code="SMS_FESTIVAL",
            template="{name},{store}祝您{festival}快乐!",
            active=False,
        )
        for code, name in (
            ("qixi", gettext_noop("Qixi greeting")),
            ("womens_day", gettext_noop("Women's Day greeting")),
            ("labour_day", gettext_noop("Labour Day greeting")),
            ("teachers_day", gettext_noop("Teachers' Day greeting")),
        )
    ],
    # Revisits by tier.
    _rule(
        "gold-visit",
        gettext_noop("Visit a gold customer (at least twice a year)"),
        Trigger.REVISIT,
        Channel.VISIT,
        Purpose.MARKETING,
        priority=70,
        tiers=["gold"],
        params={"interval_days": 180, "activity_kinds": ["visit"]},
        script="上门拜访:带上与客户相关的资讯,了解新需求,请客户推荐。",
    ),
    _rule(
        "silver-call",
        gettext_noop("Periodic call to a silver customer"),
        Trigger.REVISIT,
        Channel.CALL,
        Purpose.MARKETING,
        priority=50,
        tiers=["silver"],
        params={"interval_days": 90, "activity_kinds": ["call", "visit"]},
        script="定期电话问候,了解使用情况和新需求。",
    ),
    _rule(
        "quality-feedback-sms",
        gettext_noop("Quality feedback SMS"),
        Trigger.DELIVERED,
        Channel.SMS,
        Purpose.SERVICE,
        offset_days=14,
        priority=50,
        sms_template_code="SMS_FEEDBACK",
        template="{name}您好,{product}使用两周了,有任何问题请随时回复或致电{rep}。",
    ),
    _rule(
        "seasonal-visit",
        gettext_noop("Seasonal visit to a customer who buys rarely"),
        Trigger.SEASONAL,
        Channel.VISIT,
        Purpose.MARKETING,
        priority=45,
        customer_kinds=["company"],
        params={"dates": ["03-01", "06-01", "09-01", "12-01"], "max_purchases_365": 1},
        script="季节性拜访:了解库存和季节需求。",
    ),
    # Product news to every owner.
    _rule(
        "product-notice",
        gettext_noop("Price or usage change notice to owners"),
        Trigger.PRODUCT_NOTICE,
        Channel.SMS,
        Purpose.SERVICE,
        offset_days=0,
        priority=60,
        sms_template_code="SMS_PRODUCT_NOTICE",
        template="{name}您好,关于您的{product}:{notice}",
    ),
]
