from django.tasks import task

from jobs.runner import run_job


@task()
def run_job_task(job_id: int) -> str:
    """Thin on purpose: the runner owns claiming, progress and resumption."""
    return run_job(job_id)
