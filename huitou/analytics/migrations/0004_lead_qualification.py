# Lead qualification (DOMAIN §2): one Qualification (red, green or rotten apple) per customer.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("analytics", "0003_customer_value"),
        ("customers", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Qualification",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("need", models.BooleanField(default=False, verbose_name="has a need")),
                ("money", models.BooleanField(default=False, verbose_name="has the money")),
                ("authority", models.BooleanField(default=False, verbose_name="decides")),
                (
                    "apple",
                    models.CharField(
                        choices=[("red", "Red apple"), ("green", "Green apple"), ("rotten", "Rotten apple")],
                        max_length=6,
                        verbose_name="apple",
                    ),
                ),
                ("note", models.CharField(blank=True, max_length=255, verbose_name="note")),
                ("updated_at", models.DateTimeField(verbose_name="updated")),
                ("version", models.PositiveIntegerField(default=1)),
                (
                    "customer",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="qualification",
                        to="customers.customer",
                    ),
                ),
                (
                    "organisation",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.organisation",
                    ),
                ),
                (
                    "updated_by",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={
                "verbose_name": "lead qualification",
                "indexes": [
                    models.Index(fields=["organisation", "apple", "-updated_at"], name="qualify_org_apple_idx"),
                    models.Index(fields=["organisation", "-updated_at"], name="qualify_org_updated_idx"),
                ],
            },
        ),
    ]
