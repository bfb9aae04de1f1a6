"""The import page: who may use it, upload → job → counts, error report, export download."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from huitou.customers.models import Customer, ImportJob

CSV = "external_id,name,phone\nC1,王小明,13812345678\nC2,李娜,12\n".encode()


@pytest.fixture(autouse=True)
def _import_dir(settings, tmp_path):
    settings.HUITOU_IMPORT_DIR = tmp_path / "imports"


def upload(client, user, *, dry_run=False, data=CSV, name="people.csv"):
    client.force_login(user)
    form = {"kind": "customers", "file": SimpleUploadedFile(name, data, content_type="text/csv")}
    if dry_run:
        form["dry_run"] = "on"
    return client.post(reverse("customers:import"), form)


def test_rep_cannot_open_the_import_page(client, org_world):
    client.force_login(org_world.rep1)
    assert client.get(reverse("customers:import")).status_code == 403


def test_rep_cannot_upload_and_nothing_is_stored(client, org_world):
    response = upload(client, org_world.rep1)
    assert response.status_code == 403
    assert (ImportJob.objects.count(), Customer.objects.count()) == (0, 0)


def test_dcrc_cannot_export(client, org_world):
    client.force_login(org_world.dcrc)
    response = client.get(reverse("customers:export"), {"kind": "customers", "format": "csv"})
    assert response.status_code == 403


def test_owner_upload_runs_the_job_and_shows_the_counts(client, org_world):
    response = upload(client, org_world.owner)
    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("customers:import_status", args=[job.pk])
    assert (job.status, job.created_count, job.updated_count, job.rejected_count) == ("done", 1, 0, 1)
    page = client.get(response["Location"])
    html = page.content.decode()
    assert '<dd class="col-6 col-sm-8" id="count-created">1</dd>' in html
    assert '<dd class="col-6 col-sm-8" id="count-rejected">1</dd>' in html
    assert 'hx-trigger="every 1s"' not in html
    assert Customer.history.get().history_user == org_world.owner


def test_running_job_is_polled_by_htmx(client, org_world):
    client.force_login(org_world.owner)
    job = ImportJob.objects.create(
        organisation=org_world.org,
        user=org_world.owner,
        kind="customers",
        file_path="x.csv",
        original_name="x.csv",
        status="running",
        processed_rows=5000,
        total_rows=20000,
    )
    response = client.get(reverse("customers:import_status", args=[job.pk]), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert 'hx-trigger="every 1s"' in html
    assert 'aria-valuenow="25"' in html
    assert "<html" not in html


def test_error_report_lists_line_field_and_error(client, org_world):
    upload(client, org_world.owner)
    job = ImportJob.objects.get()
    response = client.get(reverse("customers:import_errors", args=[job.pk]))
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert body.splitlines() == ["line,field,error", "3,phone,malformed phone number '12'"]


def test_dry_run_from_the_page_stores_nothing(client, org_world):
    upload(client, org_world.manager1, dry_run=True)
    job = ImportJob.objects.get()
    assert (job.status, job.created_count) == ("done", 1)
    assert Customer.objects.count() == 0


def test_unusable_file_fails_the_job_with_the_reason(client, org_world):
    upload(client, org_world.owner, data=b"phone\n13812345678\n")
    job = ImportJob.objects.get()
    assert (job.status, job.message) == ("failed", "missing required column(s) for customers: name")
    assert Customer.objects.count() == 0


def test_manager_cannot_see_another_managers_job(client, org_world):
    upload(client, org_world.manager1)
    job = ImportJob.objects.get()
    client.force_login(org_world.manager2)
    assert client.get(reverse("customers:import_status", args=[job.pk])).status_code == 404
    assert client.get(reverse("customers:import_errors", args=[job.pk])).status_code == 404


def test_page_export_masks_phones_for_roles_that_see_masked_phones(client, org_world):
    upload(client, org_world.owner)
    response = client.get(reverse("customers:export"), {"kind": "customers", "format": "csv"})
    body = b"".join(response.streaming_content).decode("utf-8-sig")
    assert response.status_code == 200
    assert body.splitlines()[1].startswith("C1,王小明,person,138****5678,")


def test_page_export_has_full_phones_when_policy_unmasks_the_role(client, org_world):
    org_world.org.policy_data = {"archive": {"unmasked_phone_roles": ["owner"]}}
    org_world.org.save()
    upload(client, org_world.owner)
    response = client.get(reverse("customers:export"), {"kind": "customers", "format": "xlsx"})
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="huitou-customers.xlsx"'
    ws = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    assert [c.value for c in ws[2]][:4] == ["C1", "王小明", "person", "13812345678"]
