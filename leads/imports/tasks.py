"""Background steps of a lead import, run by django-tasks-db's worker (``manage.py db_worker``).

Thin on purpose: each loads nothing but an id and runs the step, which claims the batch with a
compare-and-set (so a task enqueued twice does the work once) and keeps progress on the
ImportBatch row (django-tasks-db has no progress API). The steps live in ``upload`` and
``writing``, not in ``services``: ``services`` enqueues these tasks, so importing it from here
would make the two modules import each other."""

from django.tasks import task

from leads.imports import upload, writing


@task
def analyse_import_batch(batch_id: int) -> int:
    upload.analyse(batch_id)
    return batch_id


@task
def commit_import_batch(batch_id: int) -> int:
    writing.commit(batch_id)
    return batch_id
