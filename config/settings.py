"""LeadDesk settings. Everything deployment-specific comes from the environment (see .env.example)."""

from datetime import timedelta
from pathlib import Path

import environ

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
if not SECRET_KEY:
    if not DEBUG:
        from django.core.exceptions import ImproperlyConfigured

        raise ImproperlyConfigured("SECRET_KEY must be set (see .env.example).")
    SECRET_KEY = "insecure-dev-only"  # noqa: S105 - DEBUG only

# PII at rest: Fernet keys, newest first (the first encrypts, all decrypt), and a separate
# HMAC key for the blind indexes that find and de-duplicate leads by phone and ID number.
FIELD_ENCRYPTION_KEYS = env.list("FIELD_ENCRYPTION_KEYS", default=[])
BLIND_INDEX_KEY = env.str("BLIND_INDEX_KEY", default="")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "import_export",
    "django_tasks_db",
    "core",
    "partners",
    "leads",
    "collision",
    "pushes",
    "jobs",
    "sandbox",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.admin_links.AdminRequestMiddleware",  # read-only links ask who is looking
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

WSGI_APPLICATION = "config.wsgi.application"

DATABASES = {"default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    # Workers, their threads and the web server write concurrently: take the write lock when a
    # transaction begins (no lock-upgrade deadlocks), wait for it rather than fail, and use WAL.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 30,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]}}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}

# Partner calls take no proxy, netrc or CA bundle from the environment (looking them up cost
# ~0.5 ms per request); a proxy, if partners are reached through one, is set here explicitly.
PARTNER_HTTP_PROXY = env.str("PARTNER_HTTP_PROXY", default="")

# Background jobs (see jobs/runner.py): leases, retries and when admin actions go to a job.
JOB_LEASE_SECONDS = env.int("JOB_LEASE_SECONDS", default=30)
JOB_REQUEUE_AFTER_SECONDS = env.int("JOB_REQUEUE_AFTER_SECONDS", default=300)
JOB_THROTTLE_PAUSE_SECONDS = env.int("JOB_THROTTLE_PAUSE_SECONDS", default=60)
JOB_INLINE_LIMIT = env.int("JOB_INLINE_LIMIT", default=20)
JOB_CHECK_CHUNK_SIZE = env.int("JOB_CHECK_CHUNK_SIZE", default=1000)
JOB_PUSH_CHUNK_SIZE = env.int("JOB_PUSH_CHUNK_SIZE", default=50)
CHECK_MAX_ATTEMPTS = env.int("CHECK_MAX_ATTEMPTS", default=5)
CHECK_RETRY_BASE_SECONDS = env.float("CHECK_RETRY_BASE_SECONDS", default=2.0)
PUSH_MAX_ATTEMPTS = env.int("PUSH_MAX_ATTEMPTS", default=3)
PUSH_RETRY_BASE_SECONDS = env.float("PUSH_RETRY_BASE_SECONDS", default=1.0)
# A push outside a job still pending or sending after this long lost its process: settle it.
PUSH_ORPHANED_AFTER = timedelta(minutes=env.int("PUSH_ORPHANED_AFTER_MINUTES", default=10))
JANITOR_INTERVAL_SECONDS = env.float("JANITOR_INTERVAL_SECONDS", default=5.0)

# --- Lead import and export (issue 4) ---
# django-import-export's own import/export views default to open: require "<app>.import_<model>"
# and "<app>.export_<model>" for any admin that uses them (ours check their own codes as well).
IMPORT_EXPORT_IMPORT_PERMISSION_CODE = "import"
IMPORT_EXPORT_EXPORT_PERMISSION_CODE = "export"
LEAD_IMPORT_MAX_BYTES = env.int("LEAD_IMPORT_MAX_BYTES", default=50 * 1024 * 1024)
LEAD_IMPORT_MAX_ROWS = env.int("LEAD_IMPORT_MAX_ROWS", default=300_000)
# An xlsx is a zip: refuse one that unpacks past this, or whose parts unpack more than
# LEAD_IMPORT_MAX_ZIP_RATIO times their packed size (a zip bomb).
LEAD_IMPORT_MAX_UNPACKED_BYTES = env.int(
    "LEAD_IMPORT_MAX_UNPACKED_BYTES", default=512 * 1024 * 1024
)
LEAD_IMPORT_MAX_ZIP_RATIO = env.int("LEAD_IMPORT_MAX_ZIP_RATIO", default=100)
# Uploads above this size are analysed, and batches above this many rows imported, by the
# background worker (manage.py db_worker); smaller ones right in the request.
LEAD_IMPORT_BACKGROUND_BYTES = env.int("LEAD_IMPORT_BACKGROUND_BYTES", default=256 * 1024)
LEAD_IMPORT_BACKGROUND_ROWS = env.int("LEAD_IMPORT_BACKGROUND_ROWS", default=3000)
# Rejected rows (with the personal data the operator needs to fix them) are kept encrypted for
# this many days after the batch finishes, then purged (manage.py purge_import_batches).
LEAD_IMPORT_RETENTION_DAYS = env.int("LEAD_IMPORT_RETENTION_DAYS", default=7)
