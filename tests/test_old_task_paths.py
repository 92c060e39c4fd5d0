"""Rows queued before the import moved to ``leads.imports.tasks`` name the old path
``leads.tasks.…`` (the shim leads/tasks.py keeps them running until the queues have drained)."""

import pytest
from django.core.management import call_command
from django.test import override_settings
from django_tasks_db.models import DBTaskResult

from leads.imports import services as import_services
from leads.models import ImportState, Lead
from tests.import_files import CHINESE_HEADERS, lead_rows, xlsx_bytes
from tests.workers import DB_TASKS


def queued_under_the_old_path() -> None:
    """What the old code left in the queue: the one waiting row, named ``leads.tasks.…``."""
    row = DBTaskResult.objects.get(status="READY")
    row.task_path = row.task_path.replace("leads.imports.tasks.", "leads.tasks.")
    row.save(update_fields=["task_path"])


def run_the_worker() -> None:
    call_command("db_worker", batch=True, startup_delay=False, reload=False, verbosity=0)


@pytest.mark.django_db(transaction=True)  # the worker closes the connection
@override_settings(TASKS=DB_TASKS, LEAD_IMPORT_BACKGROUND_BYTES=0, LEAD_IMPORT_BACKGROUND_ROWS=0)
def test_tasks_queued_under_the_old_path_still_run():
    batch = import_services.import_batch_create(
        file_name="leads.xlsx", data=xlsx_bytes(CHINESE_HEADERS, lead_rows(3))
    )
    import_services.import_batch_start_analysis(batch)
    queued_under_the_old_path()
    run_the_worker()
    batch.refresh_from_db()
    assert batch.state == ImportState.PREVIEW

    import_services.import_batch_confirm(batch)
    queued_under_the_old_path()
    run_the_worker()
    batch.refresh_from_db()
    assert batch.state == ImportState.DONE
    assert Lead.objects.count() == 3
    assert list(
        DBTaskResult.objects.order_by("enqueued_at").values_list("task_path", "status")
    ) == [
        ("leads.tasks.analyse_import_batch", "SUCCESSFUL"),
        ("leads.tasks.commit_import_batch", "SUCCESSFUL"),
    ]
