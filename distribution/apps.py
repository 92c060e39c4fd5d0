from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class DistributionConfig(AppConfig):
    name = "distribution"
    verbose_name = _("分发")

    def ready(self):
        # Below us, jobs and imports call back through their registries (they import nothing
        # of ours): a job's end wakes its run, the janitor takes up runs, an import starts the
        # plans that run on every import.
        from distribution import runner, services
        from jobs.handlers import on_final, register_janitor_pass
        from leads.imports.batches import on_imported

        on_final(runner.wake_run)
        register_janitor_pass(runner.requeue_due_runs)
        on_imported(services.run_plans_on_import)
