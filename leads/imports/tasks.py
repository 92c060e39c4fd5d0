"""Background steps of a lead import, run by django-tasks-db's worker (``manage.py db_worker``).

Thin on purpose: each loads nothing but an id and calls the service, which claims the batch with
a compare-and-set (so a task enqueued twice does the work once) and keeps progress on the
ImportBatch row (django-tasks-db has no progress API)."""

from django.tasks import task

from leads import services


@task
def analyse_import_batch(batch_id: int) -> int:
    services.import_batch_analyse(batch_id)
    return batch_id


@task
def commit_import_batch(batch_id: int) -> int:
    services.import_batch_commit(batch_id)
    return batch_id
