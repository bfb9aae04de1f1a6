from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("analytics", "0002_risk_snapshots_winbacks")]

    operations: list[migrations.operations.base.Operation] = []
