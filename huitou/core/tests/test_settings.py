import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _import_settings(env: dict[str, str]) -> subprocess.CompletedProcess:
    full = {k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "DEBUG", "HUITOU_ENV"}}
    full.update(env)
    return subprocess.run(
        [sys.executable, "-c", "import config.settings.base"],
        cwd=ROOT,
        env=full,
        capture_output=True,
        text=True,
    )


def test_production_refuses_without_secret_key():
    proc = _import_settings({"HUITOU_ENV": "production", "DEBUG": "0"})
    assert proc.returncode != 0
    assert "SECRET_KEY must be set" in proc.stderr


def test_production_refuses_debug_on():
    proc = _import_settings({"HUITOU_ENV": "production", "DEBUG": "1", "SECRET_KEY": "x" * 50})
    assert proc.returncode != 0
    assert "DEBUG must be off" in proc.stderr


def test_production_starts_with_key_and_debug_off():
    proc = _import_settings({"HUITOU_ENV": "production", "DEBUG": "0", "SECRET_KEY": "x" * 50})
    assert proc.returncode == 0, proc.stderr


def test_database_url_selects_postgres():
    import dj_database_url

    cfg = dj_database_url.parse("postgresql://postgres@127.0.0.1:5432/huitou")
    assert cfg["ENGINE"] == "django.db.backends.postgresql"


def test_passwords_use_argon2_outside_tests():
    from config.settings import base

    assert base.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"


def test_embedded_task_queue_needs_no_server():
    from config.settings import base

    if not base.REDIS_URL:
        assert base.HUEY["huey_class"] == "huey.SqliteHuey"
        assert str(base.HUEY["filename"]).endswith("huey.sqlite3")
