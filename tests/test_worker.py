"""The embedded task queue works with nothing but files: a web process enqueues, `huitou worker` runs it.

This runs real processes against a file SQLite database and a SQLite Huey store in a temporary
var/ directory, so it proves the set-up `make demo` uses, not the immediate mode of the other tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

ENQUEUE = r"""
import django, sys
django.setup()
from django.core.files.uploadedfile import SimpleUploadedFile
from huitou.accounts.models import Organisation, User
from huitou.customers.io.jobs import import_job_start
org = Organisation.objects.create(name="队列测试", slug="q")
user = User.objects.create(username="boss", role="owner", organisation=org)
csv = "external_id,name,phone\nQ1,王队列,13812340000\nQ2,李队列,13812340001\n".encode()
job = import_job_start(actor=user, kind="customers", upload=SimpleUploadedFile("q.csv", csv), dry_run=False)
from huitou.customers.tasks import import_job_task
import_job_task(job.pk)  # what the import page does: queue it and return
print(job.pk)
"""

CHECK = r"""
import django, sys
django.setup()
from huitou.customers.models import Customer, ImportJob
job = ImportJob.objects.get(pk=int(sys.argv[1]))
print(job.status, job.created_count, Customer.objects.count())
"""


@pytest.mark.skipif(
    "postgresql" in os.environ.get("DATABASE_URL", ""), reason="the embedded mode is the SQLite set-up"
)
def test_worker_runs_tasks_from_the_sqlite_queue(tmp_path):
    env = {
        **os.environ,
        "HUITOU_VAR_DIR": str(tmp_path),
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "HUEY_IMMEDIATE": "0",
        "REDIS_URL": "",
    }
    run = lambda *args: subprocess.run(  # noqa: E731
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    migrated = run("manage.py", "migrate", "-v", "0")
    assert migrated.returncode == 0, migrated.stderr
    enqueued = run("-c", ENQUEUE)
    assert enqueued.returncode == 0, enqueued.stderr
    job_id = enqueued.stdout.strip().splitlines()[-1]
    assert run("-c", CHECK, job_id).stdout.split()[0] == "pending"  # nothing runs it yet
    assert (tmp_path / "huey.sqlite3").exists()

    worker = subprocess.Popen(
        [sys.executable, "-m", "huitou.cli", "worker", "--workers", "1"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        state = ""
        while time.monotonic() < deadline:
            state = run("-c", CHECK, job_id).stdout.strip()
            if state.startswith(("done", "failed")):
                break
            time.sleep(0.5)
    finally:
        worker.terminate()
        worker.wait(timeout=20)
    assert state == "done 2 2"
