"""Who works a job's chunks: each use case registers its handler for its kind of job from its
``AppConfig.ready()``, so ``jobs`` (below leads, checks and pushes) calls them without importing
them. A job kind without a registered handler is a configuration error, raised when it runs."""

from collections.abc import Callable
from dataclasses import dataclass

from jobs.outcomes import ChunkOutcome


@dataclass(frozen=True)
class ChunkHandler:
    """``work(job=, chunk=, worker_id=, final_attempt=, before_request=)`` does one chunk;
    ``requests_left_today(partner)``, when given, is the partner's daily cap still open
    (``None``: no cap), read once when a run starts."""

    work: Callable[..., ChunkOutcome]
    requests_left_today: Callable[..., int | None] | None = None


_handlers: dict[str, ChunkHandler] = {}
# Called with a job once it is finished or cancelled (after its final state is saved): how a use
# case built on jobs (a distribution run) learns that one of its jobs is done.
_on_final: list[Callable[..., None]] = []
# Called on every janitor pass of every worker (run_worker): how such a use case requeues its
# own work whose worker died.
_janitor_passes: list[Callable[[], object]] = []


def register(kind: str, work: Callable[..., ChunkOutcome], *, requests_left_today=None) -> None:
    _handlers[kind] = ChunkHandler(work, requests_left_today)


def handler_for(kind: str) -> ChunkHandler:
    try:
        return _handlers[kind]
    except KeyError:
        raise LookupError(f"no chunk handler registered for job kind {kind!r}") from None


def on_final(callback: Callable[..., None]) -> None:
    """``callback(job)`` runs when a job reaches a final state."""
    _on_final.append(callback)


def job_became_final(job) -> None:
    for callback in _on_final:
        callback(job)


def register_janitor_pass(callback: Callable[[], object]) -> None:
    _janitor_passes.append(callback)


def janitor_passes() -> list[Callable[[], object]]:
    return list(_janitor_passes)
