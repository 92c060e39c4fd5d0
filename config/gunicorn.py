"""Gunicorn, as `make serve` runs it: `gunicorn -c config/gunicorn.py config.wsgi`.

Settings come from the environment, or from the env file DJANGO_ENV_FILE names (the same file
Django reads; the real environment wins). Access and error logs go to stdout/stderr with every
phone and ID number masked (core.logging): a search by phone puts the number in the request line
and in the next request's Referer.
"""

import os
import sys
from pathlib import Path

import environ
from gunicorn.glogging import Logger

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # the master process imports core.logging before the app

from core.logging import mask_handlers  # noqa: E402

if "DJANGO_ENV_FILE" in os.environ:
    environ.Env.read_env(ROOT / os.environ["DJANGO_ENV_FILE"], overwrite=False)

wsgi_app = "config.wsgi:application"
# Loopback by default: TLS ends at a reverse proxy in front (see .env.production.example).
bind = [os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")]
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# An export of a few hundred thousand leads or an inline import takes tens of seconds.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
# X-Forwarded-Proto is believed from these addresses only (gunicorn's own default: loopback).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
accesslog = "-"
errorlog = "-"
# No control socket (gunicornc): its default path is one per user, shared by every instance.
control_socket_disable = True


class MaskingLogger(Logger):
    """Gunicorn's logger with identifiers masked on every handler it sets up, whatever
    accesslog/errorlog/syslog point at (setup runs again on a reload: mask_handlers is idempotent)."""

    def setup(self, cfg):
        super().setup(cfg)
        mask_handlers(self.error_log, self.access_log)


logger_class = MaskingLogger
