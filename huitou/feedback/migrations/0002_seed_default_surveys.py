"""Give organisations that existed before the surveys their default templates."""

from django.db import migrations


def seed(apps, schema_editor):
    from django.conf import settings
    from django.utils import translation

    from huitou.feedback.defaults import DEFAULT_TEMPLATES

    def _text(text):
        with translation.override(settings.LANGUAGE_CODE):
            return str(translation.gettext(text))

    Organisation = apps.get_model("accounts", "Organisation")
    SurveyTemplate = apps.get_model("feedback", "SurveyTemplate")
    Question = apps.get_model("feedback", "Question")
    for org in Organisation.objects.all():
        have = set(SurveyTemplate.objects.filter(organisation=org).values_list("code", flat=True))
        active = set(SurveyTemplate.objects.filter(organisation=org, active=True).values_list("kind", flat=True))
        for spec in DEFAULT_TEMPLATES:
            if spec["code"] in have:
                continue
            template = SurveyTemplate.objects.create(
                organisation=org,
                code=spec["code"],
                kind=str(spec["kind"]),
                name=_text(spec["name"]),
                intro=_text(spec["intro"]),
                active=str(spec["kind"]) not in active,
            )
            active.add(str(spec["kind"]))
            Question.objects.bulk_create(
                [
                    Question(
                        template=template,
                        order=(i + 1) * 10,
                        factor=q["factor"],
                        text=_text(q["text"]),
                        kind=str(q["kind"]),
                        weight=q["weight"],
                        expectation=q.get("expectation", False),
                        required=q.get("required", True),
                    )
                    for i, q in enumerate(spec["questions"])
                ]
            )


def unseed(apps, schema_editor):
    # The templates may have been edited and answered since; going back removes the tables (0001).
    pass


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_surveys_and_tickets")]
    operations = [migrations.RunPython(seed, unseed)]
