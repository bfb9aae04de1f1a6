"""Import jobs of the import page: start one (service), read them (selectors), run one (task body)."""

from __future__ import annotations

import csv
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet
from django.utils import timezone

from huitou.accounts import permissions
from huitou.core.errors import NotFound, PermissionDenied, ValidationFailed

from ..models import ImportJob
from .cells import protect
from .errors import ImportFileError
from .importer import import_file
from .layout import LAYOUTS
from .readers import EXTENSIONS

if TYPE_CHECKING:
    from huitou.accounts.models import User

MAX_UPLOAD_BYTES = 1 << 30


def import_job_start(*, actor: User, kind: str, upload: UploadedFile, dry_run: bool) -> ImportJob:
    """Save the upload under HUITOU_IMPORT_DIR and record a pending job (the caller queues it)."""
    if not permissions.can_import(actor):
        raise PermissionDenied("only the owner and managers import data")
    if kind not in LAYOUTS:
        raise ValidationFailed({"kind": [f"unknown kind {kind!r}"]})
    name = Path(upload.name or "upload").name
    suffix = Path(name).suffix.lower()
    if suffix not in EXTENSIONS:
        raise ValidationFailed({"file": ["use a .csv or .xlsx file"]})
    if (upload.size or 0) > MAX_UPLOAD_BYTES:
        raise ValidationFailed({"file": ["the file is larger than 1 GB"]})
    folder = Path(settings.HUITOU_IMPORT_DIR)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4().hex}{suffix}"
    with target.open("wb") as fh:
        for piece in upload.chunks():
            fh.write(piece)
    return ImportJob.objects.create(
        organisation_id=permissions.org_id(actor),
        user=actor,
        kind=kind,
        file_path=str(target),
        original_name=name[:255],
        dry_run=dry_run,
    )


def import_job_run(*, job_id: int) -> None:
    """Run a pending job to the end; a job already started is left alone (safe to run twice)."""
    claimed = ImportJob.objects.filter(pk=job_id, status=ImportJob.Status.PENDING).update(
        status=ImportJob.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return
    job = ImportJob.objects.select_related("user").get(pk=job_id)

    def progress(done: int, total: int) -> None:
        ImportJob.objects.filter(pk=job_id).update(processed_rows=done, total_rows=total)

    try:
        result = import_file(
            kind=job.kind,
            path=Path(job.file_path),
            dry_run=job.dry_run,
            actor=job.user,
            display_name=job.original_name,
            on_progress=progress,
        )
    except (ImportFileError, PermissionDenied) as exc:
        ImportJob.objects.filter(pk=job_id).update(
            status=ImportJob.Status.FAILED, message=str(exc), finished_at=timezone.now()
        )
        return
    errors_path = ""
    if result.errors:
        errors_file = Path(job.file_path).with_suffix(".errors.csv")
        with errors_file.open("w", encoding="utf-8-sig", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["line", "field", "error"])
            for err in result.errors:
                writer.writerow([err.line, err.field, protect(err.error)])
        errors_path = str(errors_file)
    ImportJob.objects.filter(pk=job_id).update(
        status=ImportJob.Status.DONE,
        processed_rows=result.rows,
        total_rows=result.rows,
        created_count=result.created,
        updated_count=result.updated,
        unchanged_count=result.unchanged,
        rejected_count=result.rejected_rows,
        errors_path=errors_path,
        finished_at=timezone.now(),
    )


def import_jobs_recent(viewer: User, *, limit: int = 10) -> QuerySet[ImportJob]:
    return _job_scope(viewer).order_by("-created_at", "-id")[:limit]


def import_job_get(viewer: User, job_id: int) -> ImportJob:
    try:
        return _job_scope(viewer).get(pk=job_id)
    except ImportJob.DoesNotExist as exc:
        raise NotFound("import job") from exc


def _job_scope(viewer: User) -> QuerySet[ImportJob]:
    """The owner sees every import of the organisation, a manager their own."""
    if not permissions.is_active_member(viewer) or not permissions.can_import(viewer):
        return ImportJob.objects.none()
    qs = ImportJob.objects.filter(organisation_id=permissions.org_id(viewer))
    if viewer.role != permissions.OWNER:
        qs = qs.filter(user=viewer)
    return qs
