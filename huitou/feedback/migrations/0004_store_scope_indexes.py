"""Tickets, invitations and responses belong to the store on the row (the store that sold,
serviced or took the complaint): the store-bound roles' scope reads the row's ``store_id``
(access.py), so each list is one index range of the store. Rows written without a store (a purchase
without one) take the customer's store, as the services now do at creation."""

from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def backfill_store(apps, schema_editor):  # type: ignore[no-untyped-def]
    Customer = apps.get_model("customers", "Customer")
    store_of_customer = Subquery(Customer.objects.filter(pk=OuterRef("customer_id")).values("store_id")[:1])
    for name in ("Ticket", "SurveyInvitation", "SurveyResponse"):
        model = apps.get_model("feedback", name)
        model.objects.filter(store__isnull=True).update(store_id=store_of_customer)


class Migration(migrations.Migration):
    # Outside one transaction: on PostgreSQL the backfill's UPDATE leaves deferred foreign-key
    # checks pending, and CREATE INDEX refuses to run on a table with pending trigger events. The
    # backfill is idempotent and every index step stands alone, so a rerun after a failure is safe.
    atomic = False

    dependencies = [
        ("customers", "0004_purchase_sale_day"),
        ("feedback", "0003_scale_indexes"),
    ]

    operations = [
        migrations.RunPython(backfill_store, migrations.RunPython.noop, elidable=True),
        migrations.AddIndex(
            model_name="surveyinvitation",
            index=models.Index(
                condition=models.Q(("status__in", ["pending", "sent", "expired"])),
                fields=["store", "send_on", "id"],
                name="invitation_store_open_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="surveyresponse",
            index=models.Index(fields=["store", "-submitted_at"], name="response_store_submitted_idx"),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(
                condition=models.Q(("status__in", ["open", "replied"])),
                fields=["store", "resolve_due_at", "id"],
                name="ticket_store_open_due_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="ticket",
            index=models.Index(fields=["store", "-received_at"], name="ticket_store_received_idx"),
        ),
    ]
