from django.conf import settings
from django.core.checks import Error, register


@register()
def encryption_keys_configured(app_configs, **kwargs):
    errors = []
    if not settings.FIELD_ENCRYPTION_KEYS:
        errors.append(
            Error("FIELD_ENCRYPTION_KEYS is not set.", hint="See .env.example.", id="core.E001")
        )
    if not settings.BLIND_INDEX_KEY:
        errors.append(
            Error("BLIND_INDEX_KEY is not set.", hint="See .env.example.", id="core.E002")
        )
    return errors
