"""Settings read from the environment.

The embedded demo needs nothing set: SQLite under var/, a SQLite-backed task queue and a
generated development key. Production mode (HUITOU_ENV=production) refuses to start without a
real SECRET_KEY or with DEBUG on.
"""

from __future__ import annotations

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(os.environ.get("HUITOU_VAR_DIR", BASE_DIR / "var"))
VAR_DIR.mkdir(parents=True, exist_ok=True)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


HUITOU_ENV = os.environ.get("HUITOU_ENV", "development")
PRODUCTION = HUITOU_ENV == "production"

DEBUG = env_bool("DEBUG", not PRODUCTION)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if PRODUCTION:
    if not SECRET_KEY or SECRET_KEY.startswith("dev-insecure"):
        raise ImproperlyConfigured("SECRET_KEY must be set in production (HUITOU_ENV=production).")
    if DEBUG:
        raise ImproperlyConfigured("DEBUG must be off in production (HUITOU_ENV=production).")
elif not SECRET_KEY:
    # Development only: a per-checkout key kept under var/, never committed.
    key_file = VAR_DIR / "dev-secret-key"
    if not key_file.exists():
        import secrets

        key_file.write_text("dev-insecure-" + secrets.token_urlsafe(40))
    SECRET_KEY = key_file.read_text().strip()

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "simple_history",
    "axes",
    "django_htmx",
    "huey.contrib.djhuey",
    "ninja",  # so /api/v1/docs serves its bundled Swagger UI instead of loading it from a CDN
    "huitou.core",
    "huitou.accounts",
    "huitou.customers",
    "huitou.followups",
    "huitou.analytics",
    "huitou.referrals",
    "huitou.feedback",
    "huitou.reports",
    "huitou.dashboards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    "axes.middleware.AxesMiddleware",
    "huitou.core.middleware.ServiceErrorMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "huitou" / "templates"],
        "APP_DIRS": False,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "huitou.core.context_processors.navigation",
            ],
            # Cached loader always: templates are most of a list page's CPU (LIMITS.md).
            "loaders": [
                (
                    "django.template.loaders.cached.Loader",
                    [
                        "django.template.loaders.filesystem.Loader",
                        "django.template.loaders.app_directories.Loader",
                    ],
                )
            ],
        },
    }
]

DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{VAR_DIR / 'huitou.sqlite3'}"),
        conn_max_age=int(os.environ.get("CONN_MAX_AGE", "60")),
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets the web server read while the worker writes; IMMEDIATE avoids lock upgrades
    # failing half-way through a write transaction.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": (
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA busy_timeout=10000;"
            " PRAGMA cache_size=-65536; PRAGMA temp_store=MEMORY;"
        ),
        "transaction_mode": "IMMEDIATE",
    }

elif DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # PostgreSQL compiles a statement costed above jit_above_cost before running it. The pages'
    # statements cross that line by their many small capped subplans, not by work: compiling the
    # manager's referral stage tabs took 0.41 s of a 0.88 s request at 1M referrals
    # (bench/referrals_notes.md). Off unless PG_JIT=on.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c jit=" + (
        "on" if os.environ.get("PG_JIT") == "on" else "off"
    )

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "dashboards:home"  # each role lands on its own dashboard
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "huitou" / "locale"]
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = VAR_DIR / "staticfiles"
STATIC_ROOT.mkdir(exist_ok=True)  # whitenoise warns on every request when it is missing
STATICFILES_DIRS = [BASE_DIR / "huitou" / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
MEDIA_ROOT = VAR_DIR / "media"
MEDIA_URL = "/media/"

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = PRODUCTION
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# Background tasks: Huey. Embedded: SQLite file under var/ (no server). Scaled: Redis, and as many
# `huitou worker` processes on as many machines as needed.
REDIS_URL = os.environ.get("REDIS_URL", "")
HUEY = {
    "name": "huitou",
    "immediate": env_bool("HUEY_IMMEDIATE", False),
    "utc": True,
    "consumer": {"workers": int(os.environ.get("HUEY_WORKERS", "2")), "worker_type": "thread"},
}
if REDIS_URL:
    HUEY.update({"huey_class": "huey.RedisHuey", "url": REDIS_URL})
else:
    HUEY.update({"huey_class": "huey.SqliteHuey", "filename": str(VAR_DIR / "huey.sqlite3")})

HUITOU_IMPORT_DIR = VAR_DIR / "imports"

# Short-lived caches (list counts): per process in the embedded mode, shared through Redis when scaled.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "huitou"}}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# History rows are read per record (by its id), never by date across the table: an index on
# history_date would only add write cost to every change and import.
SIMPLE_HISTORY_DATE_INDEX = False

# ---------------------------------------------------------------- outbox (huitou/followups/outbox)
# SMS follows the Chinese provider model: an approved signature (签名) and template id, with the
# template's parameters; marketing SMS carry the provider's opt-out suffix. Secrets come only from
# the environment. The default provider only logs, so the demo never sends anything.
OUTBOX = {
    "SMS_PROVIDER": os.environ.get("HUITOU_SMS_PROVIDER", "console"),  # console | file | aliyun | tencent
    "SMS_PROVIDERS": {
        "console": {"sign_name": os.environ.get("HUITOU_SMS_SIGN_NAME", "回头"), "opt_out_suffix": "回T退订"},
        "file": {
            "sign_name": os.environ.get("HUITOU_SMS_SIGN_NAME", "回头"),
            "opt_out_suffix": "回T退订",
            "path": os.environ.get("HUITOU_SMS_FILE", str(VAR_DIR / "outbox" / "sms.jsonl")),
        },
        "aliyun": {
            "sign_name": os.environ.get("HUITOU_SMS_SIGN_NAME", ""),
            "opt_out_suffix": os.environ.get("HUITOU_ALIYUN_SMS_OPT_OUT", "回T退订"),
            "access_key_id": os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", ""),
            "access_key_secret": os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", ""),
            "endpoint": os.environ.get("HUITOU_ALIYUN_SMS_ENDPOINT", "dysmsapi.aliyuncs.com"),
            # Used for messages without their own template id: an approved template whose only
            # variable (named here) carries the whole text.
            "default_template_code": os.environ.get("HUITOU_ALIYUN_SMS_TEMPLATE", ""),
            "body_param": "content",
        },
        "tencent": {
            "sign_name": os.environ.get("HUITOU_SMS_SIGN_NAME", ""),
            "opt_out_suffix": os.environ.get("HUITOU_TENCENT_SMS_OPT_OUT", "拒收请回复R"),
            "secret_id": os.environ.get("TENCENTCLOUD_SECRET_ID", ""),
            "secret_key": os.environ.get("TENCENTCLOUD_SECRET_KEY", ""),
            "region": os.environ.get("HUITOU_TENCENT_SMS_REGION", "ap-guangzhou"),
            "sdk_app_id": os.environ.get("HUITOU_TENCENT_SMS_APP_ID", ""),
            "default_template_code": os.environ.get("HUITOU_TENCENT_SMS_TEMPLATE", ""),
            # Tencent templates number their variables {1}, {2}…; named parameters are sent in this
            # order per template id (JSON objects do not keep key order in PostgreSQL).
            "template_param_order": {},
        },
    },
    # Delivery reports and inbound replies: the provider calls /plan/outbox/hooks/<provider>/…
    # with this secret in the path or the X-Huitou-Webhook-Secret header. Empty refuses them all.
    "WEBHOOK_SECRET": os.environ.get("HUITOU_OUTBOX_WEBHOOK_SECRET", ""),
    # Absolute links in messages (unsubscribe) point here.
    "PUBLIC_URL": os.environ.get("HUITOU_PUBLIC_URL", "http://127.0.0.1:8000"),
    "MAX_ATTEMPTS": int(os.environ.get("HUITOU_OUTBOX_MAX_ATTEMPTS", "5")),
    "RETRY_BASE_SECONDS": int(os.environ.get("HUITOU_OUTBOX_RETRY_BASE_SECONDS", "60")),
    "RETRY_MAX_SECONDS": int(os.environ.get("HUITOU_OUTBOX_RETRY_MAX_SECONDS", "21600")),
    # A message left in "sending" this long (worker crashed) is tried again.
    "SENDING_TIMEOUT_SECONDS": int(os.environ.get("HUITOU_OUTBOX_SENDING_TIMEOUT_SECONDS", "600")),
    "SEND_BATCH": int(os.environ.get("HUITOU_OUTBOX_SEND_BATCH", "500")),
    "PRINT_BATCH_MAX": int(os.environ.get("HUITOU_OUTBOX_PRINT_BATCH_MAX", "500")),
    # A CJK TrueType font (.ttf/.ttc with glyf outlines) to embed in letters; empty = look for the
    # packaged WenQuanYi Micro Hei, then the system's fonts-wqy-* (see outbox/pdf.py).
    "PDF_FONT": os.environ.get("HUITOU_PDF_FONT", ""),
}
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    f"django.core.mail.backends.{'smtp' if PRODUCTION else 'console'}.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", "25"))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = int(os.environ.get("EMAIL_TIMEOUT", "30"))
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "huitou <noreply@localhost>")
# ---------------------------------------------------------------- end of outbox
