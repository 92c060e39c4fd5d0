"""Test settings: fixed throwaway keys, fast hashing, tasks run inline."""

import os

os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production")

from config.settings import *  # noqa: E402,F403

FIELD_ENCRYPTION_KEYS = ["iVB7W0U9nGxNfz4P0bJZ7m2K5xW8qY3cR1tE6uA9sDk="]
BLIND_INDEX_KEY = "test-blind-index-key"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
TASKS = {"default": {"BACKEND": "django.tasks.backends.immediate.ImmediateBackend"}}
