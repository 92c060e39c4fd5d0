"""A partner's limits on our calls, kept where requests leave (``partners.transport``): at most
``max_concurrency`` requests in flight and ``max_requests_per_second`` in any one second, for
every thread of this process. Workers run one job per partner at a time, so in a worker these
are the partner's limits.
"""

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager


class RateLimiter:
    """At most ``per_second`` requests in any window of one second. A sliding window: requests
    under the limit go at once (evenly spaced slots made every request after a lull wait). A rate
    below one per second allows one per 1/rate s."""

    # Between our count and the request reaching the partner lie a few milliseconds, more when
    # threads compete: the window is kept longer by this much, so the partner never counts one
    # too many.
    GUARD_SECONDS = 0.05

    def __init__(self, per_second: float):
        self.capacity = max(1, int(per_second))
        self.window = self.capacity / per_second + self.GUARD_SECONDS
        self.recent: deque[float] = deque()
        self.lock = threading.Lock()

    def wait(self) -> None:
        while True:
            with self.lock:
                now = time.monotonic()
                while self.recent and now - self.recent[0] >= self.window:
                    self.recent.popleft()
                if len(self.recent) < self.capacity:
                    self.recent.append(now)
                    return
                delay = self.window - (now - self.recent[0])
            time.sleep(delay)


class Gate:
    def __init__(self, max_in_flight: int, per_second: float):
        self.settings = (max_in_flight, per_second)
        self.slots = threading.BoundedSemaphore(max_in_flight)
        self.rate = RateLimiter(per_second)

    @contextmanager
    def passage(self) -> Iterator[None]:
        """Hold one of the partner's in-flight slots, taken within its rate, for one exchange."""
        with self.slots:
            self.rate.wait()
            yield


_gates: dict[int, Gate] = {}
_gates_lock = threading.Lock()


def gate_for(partner_id: int, *, max_in_flight: int, per_second: float) -> Gate:
    """The partner's gate in this process; new limits (edited in the admin) get a new gate,
    and requests already inside the old one finish there."""
    with _gates_lock:
        gate = _gates.get(partner_id)
        if gate is None or gate.settings != (max_in_flight, per_second):
            gate = _gates[partner_id] = Gate(max_in_flight, per_second)
        return gate
