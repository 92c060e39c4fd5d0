from django.tasks import task

from distribution.runner import run_distribution


@task()
def run_distribution_task(run_id: int) -> str:
    """Thin on purpose: the runner owns claiming, steps and resumption."""
    return run_distribution(run_id)
