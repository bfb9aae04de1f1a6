"""Give organisations that existed before the contact plan its default rules."""

from django.db import migrations

CAR_TRIGGERS = {"first_service", "maintenance", "insurance", "inspection"}


def seed(apps, schema_editor):
    from django.conf import settings
    from django.utils import translation

    from huitou.followups.defaults import DEFAULT_RULES

    def _name(text):
        with translation.override(settings.LANGUAGE_CODE):
            return str(translation.gettext(text))

    Organisation = apps.get_model("accounts", "Organisation")
    ContactRule = apps.get_model("followups", "ContactRule")
    for org in Organisation.objects.all():
        have = set(ContactRule.objects.filter(organisation=org).values_list("code", flat=True))
        ContactRule.objects.bulk_create(
            [
                ContactRule(
                    organisation=org,
                    **{
                        k: str(v) if k in ("trigger", "channel", "purpose", "assignee") else v
                        for k, v in spec.items()
                    }
                    | {"name": _name(spec["name"])},
                )
                for spec in DEFAULT_RULES
                if spec["code"] not in have and (org.kind == "dealer" or spec["trigger"] not in CAR_TRIGGERS)
            ]
        )


def unseed(apps, schema_editor):
    # Rules may have been edited since; going back removes the table anyway (0001), so nothing to do.
    pass


class Migration(migrations.Migration):
    dependencies = [("followups", "0001_contact_plan")]
    operations = [migrations.RunPython(seed, unseed)]
