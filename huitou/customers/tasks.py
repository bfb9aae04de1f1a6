"""Background jobs of the customer archive. Each takes ids and is safe to run twice."""

from __future__ import annotations

from huey.contrib.djhuey import db_task


@db_task()
def import_job_task(job_id: int) -> None:
    from .io.jobs import import_job_run

    import_job_run(job_id=job_id)
