"""LeadDesk settings. Everything deployment-specific comes from the environment (see .env.example,
and .env.production.example for the production profile)."""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
# One env file: .env (the demo's, written by `make`), or the one DJANGO_ENV_FILE names (relative
# to the project), e.g. .env.production for `make serve`. The real environment wins over it.
ENV_FILE = BASE_DIR / os.environ.get("DJANGO_ENV_FILE", ".env")
if "DJANGO_ENV_FILE" in os.environ and not ENV_FILE.is_file():
    raise ImproperlyConfigured(f"DJANGO_ENV_FILE names {ENV_FILE}, which does not exist.")
environ.Env.read_env(ENV_FILE, overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"])
if not SECRET_KEY:
    if not DEBUG:
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
    # Sign-in: a second factor (TOTP, recovery codes) and lockout after repeated failures.
    "django_otp",
    "django_otp.plugins.otp_static",
    "django_otp.plugins.otp_totp",
    "two_factor",
    "core.lockout.AxesConfig",
    "core",
    "partners",
    "leads",
    "collision",
    "pushes",
    "jobs",
    "distribution",
    "reporting",
]  # the sandbox partner is the demo's and the tests' only: config/dev_settings.py

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",  # static files, before anything else works
    "django.middleware.csp.ContentSecurityPolicyMiddleware",  # before anything that reads the nonce
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "core.admin_links.AdminRequestMiddleware",  # read-only links ask who is looking
    "django_otp.middleware.OTPMiddleware",
    "core.two_factor.TwoFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",  # last: turns a locked-out login into the 429 page
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
                "django.template.context_processors.csp",  # {% csp_nonce_attr %} in templates
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

# --- Sign-in (issue 11): lockout after repeated failures, a second factor ---
# django-axes sees every password check first; ModelBackend does the checking.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# The login is two_factor's (password, then the code), mounted at /admin/login/ (config/urls.py).
LOGIN_URL = "two_factor:login"
LOGIN_REDIRECT_URL = "admin:index"
# Lock an account after AXES_FAILURE_LIMIT failures from anywhere (one account guessed from many
# addresses), and an address after as many failures on any accounts (one address trying many):
# each on its own, not only the pair. The user agent is not part of either: a client sets it.
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# Failures older than this are forgotten and a lock lifts by itself; 0 locks until an
# administrator unlocks (登录失败记录: delete the rows).
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=30)) or None
AXES_RESET_ON_SUCCESS = True
AXES_ENABLE_ADMIN = False  # core.sign_in_admin registers its pages, in Chinese
AXES_VERBOSE = False  # no banner on every command; a lockout is still logged
AXES_LOCKOUT_CALLABLE = "core.lockout.locked_out"  # the login page, in Chinese, HTTP 429
AXES_COOLOFF_MESSAGE = "登录失败次数过多，已暂时锁定，请稍后再试或联系管理员解锁。"
AXES_PERMALOCK_MESSAGE = "登录失败次数过多，已锁定，请联系管理员解锁。"
# two_factor's login form prefixes its fields: name the password so that axes masks it in the
# request data it keeps of a failed attempt (it masks only "password" otherwise).
AXES_PASSWORD_FORM_FIELD = "auth-password"
# Behind reverse proxies every request comes from the nearest one: say how many there are (each
# appends to X-Forwarded-For), or one attacker's failures lock everybody out.
TRUSTED_PROXY_COUNT = env.int("TRUSTED_PROXY_COUNT", default=0)
AXES_CLIENT_IP_CALLABLE = "core.lockout.client_ip_address"
# A second factor's secrets never reach a page, not even a superuser's (devices are reset, not
# edited: core.two_factor.reset_two_factor).
OTP_ADMIN_HIDE_SENSITIVE_DATA = True
OTP_TOTP_ISSUER = "LeadDesk"

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
FORMAT_MODULE_PATH = ["config.formats"]  # times to the second (config/formats)
USE_TZ = True

# --- HTTPS, cookies, sessions, CSP (issue 11) ---
# The defaults suit the demo on http://127.0.0.1; .env.production.example turns everything on
# (`manage.py check --deploy --fail-level WARNING` passes with it, in CI).
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=False)
# A load balancer's health probe may come over plain HTTP: answer it rather than redirect it.
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=False)
# Opt-in, as "HTTP_X_FORWARDED_PROTO,https": only behind a proxy that always sets that header
# (anyone else could claim https with it). Gunicorn already trusts X-Forwarded-Proto from
# FORWARDED_ALLOW_IPS (loopback by default), which covers a proxy on the same host.
SECURE_PROXY_SSL_HEADER = env.tuple("SECURE_PROXY_SSL_HEADER", default=None)
SECURE_REFERRER_POLICY = env.str("SECURE_REFERRER_POLICY", default="same-origin")
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=False)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=False)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
# Back-office sessions end after a working day without a request (8 h, counted from the last
# request: the session is saved on every one), and with the browser, whichever comes first.
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
SESSION_SAVE_EVERY_REQUEST = env.bool("SESSION_SAVE_EVERY_REQUEST", default=True)
SESSION_EXPIRE_AT_BROWSER_CLOSE = env.bool("SESSION_EXPIRE_AT_BROWSER_CLOSE", default=True)
# Content-Security-Policy: scripts and styles from our own origin, or inline with the request's
# nonce ({% csp_nonce_attr %}; Django's admin templates carry it). No style attributes, no
# inline event handlers, no eval, no framing, no plugins, forms post only to us.
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# Static files: collectstatic into STATIC_ROOT, served by WhiteNoise (middleware above). The
# production profile stores them hashed and compressed (whitenoise's manifest storage: needs a
# collectstatic before the first request); the default needs none, for the demo and the tests.
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": env.str(
            "STATICFILES_BACKEND",
            default="django.contrib.staticfiles.storage.StaticFilesStorage",
        )
    },
}

# Until collectstatic has filled STATIC_ROOT (tests, the demo), WhiteNoise looks files up per
# request instead of warning that the directory is missing.
WHITENOISE_AUTOREFRESH = DEBUG or not STATIC_ROOT.is_dir()

# Every handler masks phones and ID numbers (a search puts them in the request line): core.logging.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"mask_identifiers": {"()": "core.logging.MaskIdentifiers"}},
    "formatters": {
        "plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"},
        "django.server": {
            "()": "django.utils.log.ServerFormatter",
            "format": "[{server_time}] {message}",
            "style": "{",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "plain",
            "filters": ["mask_identifiers"],
        },
        "django.server": {
            "class": "logging.StreamHandler",
            "formatter": "django.server",
            "filters": ["mask_identifiers"],
        },
    },
    "loggers": {
        # Replaces Django's defaults: an unmasked console when DEBUG, and mail to ADMINS holding
        # the whole request. django.request and the rest of django.* come here.
        "django": {"handlers": ["console"], "level": LOG_LEVEL, "propagate": False},
        # runserver's request lines.
        "django.server": {"handlers": ["django.server"], "level": "INFO", "propagate": False},
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
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
# /healthz calls the workers stale when no janitor has written its heartbeat for this long.
WORKER_HEARTBEAT_STALE_SECONDS = env.int("WORKER_HEARTBEAT_STALE_SECONDS", default=60)

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
