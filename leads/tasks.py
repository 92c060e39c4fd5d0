"""The import's two tasks under the path they had before the pipeline moved to
``leads.imports.tasks``: django-tasks-db rows enqueued by the old code name ``leads.tasks.…``
and its worker imports that path, so without this they would fail instead of running.

Delete it in the release after the move, once no deployment has such a row waiting:
``DBTaskResult.objects.filter(task_path__startswith="leads.tasks.", status="READY").exists()``
is False. Nothing new may import from here."""

from leads.imports.tasks import analyse_import_batch, commit_import_batch

__all__ = ["analyse_import_batch", "commit_import_batch"]
