"""Django names the permissions it creates for every model in English and stores the name
("Can view 线索"): that is what an administrator reads when granting rights. After every migrate
the built-in ones are named again, in Chinese ("可查看线索"); custom ones are named by their
declaration, in Chinese already."""

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import Permission
from django.db import DEFAULT_DB_ALIAS
from django.utils import translation

ACTIONS = {"add": "添加", "change": "修改", "delete": "删除", "view": "查看"}


def builtin_permission_name(action: str, model) -> str:
    return f"可{ACTIONS[action]}{model._meta.verbose_name}"[:255]


def name_builtin_permissions(*, app_config, using=DEFAULT_DB_ALIAS, **kwargs) -> None:
    """post_migrate, once: at the last app's signal every app's permissions exist."""
    if app_config is not [config for config in apps.get_app_configs() if config.models_module][-1]:
        return
    with translation.override(settings.LANGUAGE_CODE):
        for permission in Permission.objects.using(using).select_related("content_type"):
            model = permission.content_type.model_class()
            action = permission.codename.partition("_")[0]
            if model is None or permission.codename != f"{action}_{model._meta.model_name}":
                continue  # a custom permission, or one of a model that is gone
            if action not in ACTIONS:
                continue
            name = builtin_permission_name(action, model)
            if permission.name != name:
                permission.name = name
                permission.save(update_fields=["name"])
