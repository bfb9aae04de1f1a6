"""Contact-plan rules: seeding the defaults and validating edits."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from huitou.accounts.models import Organisation

from .defaults import DEFAULT_RULES
from .models import ContactRule, Trigger

# Rules about cars make no sense for a distributor or a shop; they are seeded only for dealers.
CAR_TRIGGERS = frozenset({Trigger.FIRST_SERVICE, Trigger.MAINTENANCE, Trigger.INSURANCE, Trigger.INSPECTION})


@transaction.atomic
def rules_seed(*, organisation: Organisation) -> int:
    """Create the default rules this organisation does not have yet (by code). Returns how many."""
    have = set(ContactRule.objects.filter(organisation=organisation).values_list("code", flat=True))
    new = []
    for spec in DEFAULT_RULES:
        if spec["code"] in have:
            continue
        if organisation.kind != Organisation.Kind.DEALER and spec["trigger"] in CAR_TRIGGERS:
            continue
        fields: dict[str, Any] = {k: v for k, v in spec.items()}
        new.append(ContactRule(organisation=organisation, **fields))
    ContactRule.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
