"""The contact plan asks for referrals (issue 4): the ``referral_ask`` trigger and its default rule
for the organisations that exist already (new ones get it from ``rules_seed``)."""

from django.db import migrations, models

# Frozen here: later edits of ``defaults.py`` must not change what this migration did.
RULE = {
    "code": "referral-ask",
    "name": "Ask for a referral",
    "trigger": "referral_ask",
    "channel": "call",
    "purpose": "service",
    "assignee": "owner",
    "offset_days": 0,
    "priority": 75,
    "params": {},
    "script": "推荐表当场录入系统（点“填写推荐表”）；经DCRC电话稽核确认后计入一拓一指标。",
}


def seed(apps, schema_editor):
    from django.conf import settings
    from django.utils import translation

    with translation.override(settings.LANGUAGE_CODE):
        name = str(translation.gettext(RULE["name"]))
    Organisation = apps.get_model("accounts", "Organisation")
    ContactRule = apps.get_model("followups", "ContactRule")
    have = set(ContactRule.objects.filter(code=RULE["code"]).values_list("organisation_id", flat=True))
    ContactRule.objects.bulk_create(
        [
            ContactRule(organisation_id=org_id, **{**RULE, "name": name})
            for org_id in Organisation.objects.order_by("pk").values_list("pk", flat=True)
            if org_id not in have
        ],
        ignore_conflicts=True,
    )


def unseed(apps, schema_editor):
    # Before this migration no rule can have the trigger; their tasks stay (rule set to NULL).
    ContactRule = apps.get_model("followups", "ContactRule")
    ContactRule.objects.filter(trigger="referral_ask").delete()


class Migration(migrations.Migration):
    dependencies = [("followups", "0004_service_due_state")]

    operations = [
        migrations.AlterField(
            model_name="contactrule",
            name="trigger",
            field=models.CharField(
                choices=[
                    ("order_placed", "Order placed"),
                    ("shipped", "Shipped"),
                    ("arrival", "Expected arrival"),
                    ("delivered", "Delivered"),
                    ("service_visit", "Workshop visit"),
                    ("birthday", "Birthday"),
                    ("personal_date", "Personal date"),
                    ("festival", "Festival"),
                    ("revisit", "Revisit interval"),
                    ("seasonal", "Seasonal visit"),
                    ("product_notice", "Product notice"),
                    ("first_service", "First service"),
                    ("maintenance", "Periodic maintenance"),
                    ("insurance", "Insurance expiry"),
                    ("inspection", "Annual inspection"),
                    ("referral_ask", "Referral ask after delivery"),
                ],
                max_length=16,
                verbose_name="trigger",
            ),
        ),
        migrations.RunPython(seed, unseed),
    ]
