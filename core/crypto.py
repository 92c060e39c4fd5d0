"""Encryption at rest and keyed blind indexes for personal data.

Fernet keys come from ``settings.FIELD_ENCRYPTION_KEYS`` (newest first: the first encrypts, every
key decrypts, so keys rotate without downtime). A value that no configured key opens raises
``DecryptionError``: a wrong key must never look like an empty or garbled value.
"""

import hashlib
import hmac
import json
from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models


class DecryptionError(Exception):
    """A stored value could not be decrypted with any configured key."""


@cache
def _fernet() -> MultiFernet:
    keys = settings.FIELD_ENCRYPTION_KEYS
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS is empty: PII cannot be encrypted.")
    try:
        return MultiFernet([Fernet(key) for key in keys])
    except ValueError as exc:
        raise ImproperlyConfigured(
            "FIELD_ENCRYPTION_KEYS holds a malformed key (each must be 32 url-safe base64 bytes)."
        ) from exc


def _blind_index_key() -> bytes:
    key = settings.BLIND_INDEX_KEY
    if not key:
        raise ImproperlyConfigured("BLIND_INDEX_KEY is empty: leads cannot be indexed.")
    return key.encode()


def _reset_caches(*, setting, **kwargs):
    if setting == "FIELD_ENCRYPTION_KEYS":
        _fernet.cache_clear()


setting_changed.connect(_reset_caches)


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeEncodeError) as exc:
        raise DecryptionError(
            "A stored value cannot be decrypted with FIELD_ENCRYPTION_KEYS: wrong or missing key?"
        ) from exc


def reencrypt(token: str) -> str:
    """Re-encrypt a stored token under the newest key (key rotation)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except InvalidToken as exc:
        raise DecryptionError(
            "A stored value cannot be rotated: no configured key opens it."
        ) from exc


def blind_index(value: str, *, purpose: str) -> str:
    """HMAC-SHA256 of a normalised value; ``purpose`` keeps phone and ID indexes apart."""
    message = f"{purpose}:{value}".encode()
    return hmac.new(_blind_index_key(), message, hashlib.sha256).hexdigest()


class EncryptedTextField(models.TextField):
    """A text column holding a Fernet token. Blank stays blank: only absence is visible."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return value
        return decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        if value in (None, ""):
            return value
        return encrypt(str(value))


class EncryptedJSONField(EncryptedTextField):
    """A JSON object sealed as one Fernet token: one encryption per row, however many keys."""

    def from_db_value(self, value, expression, connection):
        if value in (None, ""):
            return {}
        return json.loads(decrypt(value))

    def get_prep_value(self, value):
        if not value:
            return ""
        return encrypt(json.dumps(value, ensure_ascii=False, separators=(",", ":")))

    def to_python(self, value):
        return value if isinstance(value, dict) else {}
