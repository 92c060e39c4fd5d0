"""The demo's settings (`make run`, benchmarks): production's plus the sandbox partner, whose
``run_sandbox`` command plays both partner APIs on 127.0.0.1. Production (config.settings, what
manage.py, gunicorn and `make serve` use unless told otherwise) never installs it."""

from config.settings import *  # noqa: F403
from config.settings import INSTALLED_APPS

INSTALLED_APPS = [*INSTALLED_APPS, "sandbox"]
