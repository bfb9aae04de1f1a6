"""Background jobs of the outbox. Both take ids (or nothing) and are safe to run twice: a message
is claimed with a conditional UPDATE before it is sent, so a second run finds nothing to do.

``huitou/followups/tasks.py`` imports this module so that Huey registers the tasks.
"""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task


@db_periodic_task(crontab(minute="*"))
def outbox_send_due() -> dict[str, int]:
    """Every minute: send the SMS and e-mails that are due, retry the ones whose back-off ran out,
    recover messages a crashed worker left in "sending"."""
    from .services import outbox_send_due as send_due

    summary = send_due()
    return {"recovered": summary.recovered, **summary.outcomes}


@db_task()
def message_send_task(message_id: int) -> str:
    """Send one message now if it is due (queued at once by ``message_queue`` for immediate ones)."""
    from .services import message_send

    return message_send(message_id=message_id)
