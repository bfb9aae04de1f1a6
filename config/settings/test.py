"""Test settings: only overrides of base."""

import os

os.environ.setdefault("HUEY_IMMEDIATE", "1")

from .base import *  # noqa: F403
from .base import DATABASES, HUEY

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # speed; production uses Argon2
HUEY["immediate"] = True
AXES_FAILURE_LIMIT = 5
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["TEST"] = {"NAME": None}  # in-memory per test run
