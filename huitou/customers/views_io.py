"""Import and export pages (owner and managers): upload, progress by htmx polling, error report."""

from __future__ import annotations

import tempfile
from pathlib import Path

from django import forms
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import FileResponse, Http404, HttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import redirect, render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_GET, require_http_methods

from huitou.accounts import permissions
from huitou.core.errors import NotFound, ValidationFailed
from huitou.core.http import AuthedRequest

from .io import export_file
from .io.jobs import import_job_get, import_job_start, import_jobs_recent
from .models import ImportJob
from .tasks import import_job_task

KIND_CHOICES = [
    ("customers", _("Customers")),
    ("owned_products", _("Owned products (vehicles)")),
    ("purchases", _("Purchases")),
    ("products", _("Product catalogue")),
]


class ImportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=KIND_CHOICES)
    file = forms.FileField(label=_("File (.csv or .xlsx)"))
    dry_run = forms.BooleanField(label=_("Dry run: check every row, store nothing"), required=False)


class ExportForm(forms.Form):
    kind = forms.ChoiceField(label=_("What to export"), choices=KIND_CHOICES)
    format = forms.ChoiceField(label=_("Format"), choices=[("csv", "CSV"), ("xlsx", "Excel (.xlsx)")])


def _require_import(request: AuthedRequest) -> None:
    if not permissions.is_active_member(request.user) or not permissions.can_import(request.user):
        raise DjangoPermissionDenied


@login_required
@require_http_methods(["GET", "POST"])
def import_view(request: AuthedRequest) -> HttpResponse:
    _require_import(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        try:
            job = import_job_start(
                actor=request.user,
                kind=form.cleaned_data["kind"],
                upload=form.cleaned_data["file"],
                dry_run=form.cleaned_data["dry_run"],
            )
        except ValidationFailed as exc:
            for fname, errs in exc.errors.items():
                for err in errs:
                    form.add_error(fname if fname in form.fields else None, err)
        else:
            import_job_task(job.pk)
            return redirect("customers:import_status", pk=job.pk)
    return render(
        request,
        "customers/import.html",
        {"form": form, "export_form": ExportForm(), "jobs": import_jobs_recent(request.user)},
    )


@login_required
@require_GET
def import_status_view(request: AuthedRequest, pk: int) -> HttpResponse:
    _require_import(request)
    try:
        job = import_job_get(request.user, pk)
    except NotFound as exc:
        raise Http404 from exc
    running = job.status in {ImportJob.Status.PENDING, ImportJob.Status.RUNNING}
    partial = bool(getattr(request, "htmx", False))
    template = "customers/import_progress.html" if partial else "customers/import_status.html"
    return render(request, template, {"job": job, "running": running})


@login_required
@require_GET
def import_errors_view(request: AuthedRequest, pk: int) -> HttpResponseBase:
    _require_import(request)
    try:
        job = import_job_get(request.user, pk)
    except NotFound as exc:
        raise Http404 from exc
    if not job.errors_path or not Path(job.errors_path).is_file():
        raise Http404
    stem = Path(job.original_name).stem or "import"
    return FileResponse(
        Path(job.errors_path).open("rb"),
        as_attachment=True,
        filename=f"{stem}-errors.csv",
        content_type="text/csv; charset=utf-8",
    )


@login_required
@require_GET
def export_view(request: AuthedRequest) -> HttpResponseBase:
    _require_import(request)
    form = ExportForm(request.GET)
    if not form.is_valid():
        return redirect("customers:import")
    kind, fmt = form.cleaned_data["kind"], form.cleaned_data["format"]
    # Written to a temporary file first: the export streams from the database in batches, and
    # the response streams the finished file, so neither side holds the whole export in memory.
    handle = tempfile.NamedTemporaryFile(suffix=f".{fmt}", delete=False)  # noqa: SIM115
    handle.close()
    path = Path(handle.name)
    export_file(kind=kind, path=path, actor=request.user)
    response = FileResponse(path.open("rb"), as_attachment=True, filename=f"huitou-{kind}.{fmt}")
    path.unlink()  # the open handle keeps the data readable until the response is sent
    return response
