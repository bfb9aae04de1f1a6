from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("analytics", "0003_customer_value")]

    operations: list[migrations.operations.base.Operation] = []
