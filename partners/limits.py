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
    """At most ``per_second`` requests in any window of one second, as the partner counts them.
    A request reaches the partner at a moment we cannot see: after we let it go, before its
    answer (or failure) is back. So it counts from the moment it is let go until one window
    after it is done; then two requests ``capacity`` apart always reach the partner at least a
    window apart, however late the first one arrived. Requests under the limit go at once (a
    sliding window; evenly spaced slots made every request after a lull wait). A rate below one
    per second allows one per 1/rate s."""

    def __init__(self, per_second: float):
        self.capacity = max(1, int(per_second))
        self.window = self.capacity / per_second
        self.done: deque[float] = deque()  # when recent requests were done, oldest first
        self.in_flight = 0
        self.changed = threading.Condition()

    @contextmanager
    def slot(self) -> Iterator[None]:
        """Let one request go within the rate; it counts until a window after this block."""
        with self.changed:
            while True:
                now = time.monotonic()
                while self.done and now - self.done[0] >= self.window:
                    self.done.popleft()
                if len(self.done) + self.in_flight < self.capacity:
                    self.in_flight += 1
                    break
                # Until the oldest done request leaves the window, or one in flight is done.
                self.changed.wait(self.window - (now - self.done[0]) if self.done else None)
        try:
            yield
        finally:
            with self.changed:
                self.in_flight -= 1
                self.done.append(time.monotonic())
                self.changed.notify_all()


class Gate:
    def __init__(self, max_in_flight: int, per_second: float):
        self.settings = (max_in_flight, per_second)
        self.slots = threading.BoundedSemaphore(max_in_flight)
        self.rate = RateLimiter(per_second)

    @contextmanager
    def passage(self) -> Iterator[None]:
        """Hold one of the partner's in-flight slots, taken within its rate, for one exchange."""
        with self.slots, self.rate.slot():
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
