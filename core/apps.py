from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "core"
    verbose_name = "LeadDesk"

    def ready(self):
        from core import admin_links, checks  # noqa: F401  (checks registers the key checks)
        from core.roles import sync_roles

        post_migrate.connect(sync_roles, dispatch_uid="core.sync_roles")
        admin_links.install()
