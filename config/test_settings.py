"""Test settings: fixed throwaway keys, fast hashing, tasks run inline."""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from config.dev_settings import *  # noqa: E402,F403  (the sandbox partner included)
from config.settings import DATABASES  # noqa: E402

FIELD_ENCRYPTION_KEYS = ["iVB7W0U9nGxNfz4P0bJZ7m2K5xW8qY3cR1tE6uA9sDk="]
BLIND_INDEX_KEY = "test-blind-index-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}

# Jobs run threads and, in the crash test, other processes: they must all see one database, so
# the SQLite test database is a file (an in-memory one is private to its connection).
if DATABASES["default"]["ENGINE"].endswith("sqlite3"):
    DATABASES["default"]["TEST"] = {
        "NAME": os.path.join(tempfile.gettempdir(), f"leaddesk-test-{os.getpid()}.sqlite3")
    }
JOB_LEASE_SECONDS = 3
JOB_CHECK_CHUNK_SIZE = 10
JOB_PUSH_CHUNK_SIZE = 5
CHECK_MAX_ATTEMPTS = 3
CHECK_RETRY_BASE_SECONDS = 0.05
PUSH_RETRY_BASE_SECONDS = 0.01
JOB_THROTTLE_PAUSE_SECONDS = 1
