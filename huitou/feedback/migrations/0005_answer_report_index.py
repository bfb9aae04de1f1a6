"""A covering index for the reports that read every answer of a period (quadrants, trend): all
their columns are keys, so PostgreSQL deduplicates the entries and a period is one index-only
range instead of a scan of the answers table."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("feedback", "0004_store_scope_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="answer",
            index=models.Index(
                fields=[
                    "organisation",
                    "kind",
                    "period",
                    "audit",
                    "question_kind",
                    "factor",
                    "expectation",
                    "score",
                ],
                name="answer_report_idx",
            ),
        ),
    ]
