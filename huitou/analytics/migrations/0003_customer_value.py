# Lifetime-value snapshots (DOMAIN §8): CustomerValue rows and the ValueFill state.

from decimal import Decimal

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        ("analytics", "0002_risk_snapshots_winbacks"),
        ("customers", "0003_plan_service_indexes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="CustomerValue",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("as_of", models.DateField(verbose_name="as of")),
                ("tier", models.CharField(blank=True, default="", max_length=6, verbose_name="value tier")),
                (
                    "customer_type",
                    models.CharField(blank=True, default="", max_length=12, verbose_name="customer type"),
                ),
                ("frequency", models.PositiveIntegerField(default=0, verbose_name="repeat purchases")),
                (
                    "recency_days",
                    models.PositiveIntegerField(
                        default=0, verbose_name="days from the first to the last purchase"
                    ),
                ),
                (
                    "age_days",
                    models.PositiveIntegerField(default=0, verbose_name="days since the first purchase"),
                ),
                (
                    "monetary",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0"),
                        max_digits=16,
                        verbose_name="mean spend per repeat purchase",
                    ),
                ),
                (
                    "p_alive",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=5,
                        null=True,
                        verbose_name="probability still active",
                    ),
                ),
                (
                    "expected_purchases",
                    models.DecimalField(
                        blank=True,
                        decimal_places=4,
                        max_digits=12,
                        null=True,
                        verbose_name="expected purchases",
                    ),
                ),
                (
                    "expected_spend",
                    models.DecimalField(
                        blank=True,
                        decimal_places=2,
                        max_digits=16,
                        null=True,
                        verbose_name="expected spend per purchase",
                    ),
                ),
                (
                    "clv",
                    models.DecimalField(
                        decimal_places=2, default=Decimal("0"), max_digits=16, verbose_name="lifetime value"
                    ),
                ),
                (
                    "revenue",
                    models.DecimalField(
                        decimal_places=2, default=Decimal("0"), max_digits=16, verbose_name="revenue to date"
                    ),
                ),
                (
                    "margin",
                    models.DecimalField(
                        decimal_places=2, default=Decimal("0"), max_digits=16, verbose_name="margin to date"
                    ),
                ),
                (
                    "referred_customers",
                    models.PositiveIntegerField(default=0, verbose_name="customers referred"),
                ),
                (
                    "referred_value",
                    models.DecimalField(
                        decimal_places=2,
                        default=Decimal("0"),
                        max_digits=16,
                        verbose_name="value of the customers referred",
                    ),
                ),
                (
                    "customer",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
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
                    "owner",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
                (
                    "store",
                    models.ForeignKey(
                        blank=True,
                        db_index=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="accounts.store",
                    ),
                ),
            ],
            options={
                "verbose_name": "customer value",
                "indexes": [
                    models.Index(
                        fields=["organisation", "as_of", "-clv", "customer"], name="value_org_asof_clv_idx"
                    ),
                    models.Index(
                        fields=["owner", "as_of", "-clv", "customer"], name="value_owner_asof_clv_idx"
                    ),
                    models.Index(
                        fields=["store", "as_of", "-clv", "customer"], name="value_store_asof_clv_idx"
                    ),
                    models.Index(fields=["organisation", "as_of", "tier"], name="value_org_asof_tier_idx"),
                    models.Index(
                        fields=["organisation", "as_of", "customer_type"], name="value_org_asof_type_idx"
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("customer", "as_of"), name="value_customer_asof_unique")
                ],
            },
        ),
        migrations.CreateModel(
            name="ValueFill",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("as_of", models.DateField(verbose_name="as of")),
                (
                    "status",
                    models.CharField(
                        choices=[("running", "Running"), ("done", "Done"), ("failed", "Failed")],
                        default="running",
                        max_length=8,
                        verbose_name="status",
                    ),
                ),
                ("started_at", models.DateTimeField(verbose_name="started")),
                ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="finished")),
                ("customers", models.PositiveIntegerField(default=0, verbose_name="customers")),
                (
                    "model",
                    models.CharField(blank=True, default="", max_length=10, verbose_name="purchase model"),
                ),
                ("params", models.JSONField(blank=True, default=dict)),
                ("log_likelihood", models.FloatField(blank=True, null=True)),
                ("spend_params", models.JSONField(blank=True, default=dict)),
                ("spend_log_likelihood", models.FloatField(blank=True, null=True)),
                ("summary", models.JSONField(blank=True, default=dict)),
                (
                    "organisation",
                    models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="accounts.organisation",
                    ),
                ),
            ],
            options={
                "verbose_name": "value fill",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("organisation", "as_of"), name="valuefill_org_asof_unique"
                    )
                ],
            },
        ),
    ]
