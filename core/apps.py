from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "LeadDesk"

    def ready(self):
        from core import admin_links, checks  # noqa: F401  (checks registers the key checks)
        from core.permission_names import name_builtin_permissions
        from core.roles import sync_roles

        post_migrate.connect(sync_roles, dispatch_uid="core.sync_roles")
        post_migrate.connect(name_builtin_permissions, dispatch_uid="core.permission_names")
        admin_links.install()
