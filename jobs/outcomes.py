from dataclasses import dataclass


@dataclass(frozen=True)
class ChunkOutcome:
    """What became of one attempt at a chunk, for the runner to act on."""

    finished: bool = False
    stopped_early: bool = False  # cancel, pause or budget: the chunk goes back to pending
    throttle_message: str = ""  # the partner said "too fast" or "quota": pause the job
    retry_error: str = ""  # a retryable failure: try the chunk again after a backoff

    @classmethod
    def done(cls) -> "ChunkOutcome":
        return cls(finished=True)

    @classmethod
    def stopped(cls) -> "ChunkOutcome":
        return cls(stopped_early=True)

    @classmethod
    def throttled(cls, message: str) -> "ChunkOutcome":
        return cls(throttle_message=message or "throttled")

    @classmethod
    def retry(cls, error: str) -> "ChunkOutcome":
        return cls(retry_error=error)
