"""Sealing new leads' personal data as ``Lead.pii`` stores it (one Fernet token, under the
first of ``FIELD_ENCRYPTION_KEYS``, of a compact JSON object), and their blind indexes
(``core.crypto.blind_index``). Both are pure CPU per lead (~15 µs a token, ~2 µs an index) and
need nothing but the values and two keys, so a big import hands them to a helper process on the
other core (``Helper``) while it inserts the leads sealed before.

The helper is ``python -m leads.imports.sealing``: a fresh interpreter that imports this module only (no
Django, no settings, no database connection, nothing of the importing process), reads the two
keys and then jobs from its stdin and writes answers to its stdout. Jobs are JSON, answers ASCII
lines; no pickle crosses the pipe. It lives for one import: it exits when its stdin closes, so
an importer that dies takes it down, and an error in it, its death or its silence (``TIMEOUT``)
fails the import, whose transaction then writes nothing.
"""

import contextlib
import hmac
import json
import os
import subprocess
import sys
import threading
from collections import deque
from json.encoder import encode_basestring
from pathlib import Path
from queue import Empty, SimpleQueue

from cryptography.fernet import Fernet

PROJECT = Path(__file__).resolve().parents[2]  # where ``-m leads.imports.sealing`` is found
TIMEOUT = 300  # seconds without an answer: a job takes milliseconds, the helper is stuck
MAX_FRAME = 1 << 30  # bytes: a job or answer is a few MB; a larger length is a garbled frame


def pii_texts(columns: list[tuple[str, list]], count: int) -> list[str]:
    """Each row's sealed attributes as the JSON object ``Lead.pii`` stores. ``columns``: the
    (name, column of str) of the sealed fields the file has, in ``SEALED_FIELDS`` order.
    Character for character what the field's encoder (compact, non-ASCII kept) writes for
    ``{name: value for each non-empty value}``, built column by column: one escape per cell and
    one join per row instead of an encoder pass over a new dict per row."""
    parts = []
    for name, column in columns:
        key = encode_basestring(name) + ":"
        parts.append([key + encode_basestring(value) if value else "" for value in column])
    if not parts:
        return ["{}"] * count
    return ["{" + ",".join(filter(None, cells)) + "}" for cells in zip(*parts, strict=True)]


def seal(encrypt, columns: list[tuple[str, list]], count: int) -> list[str]:
    """The ``pii`` column of ``count`` rows: ``encrypt`` (str → token) applied to each row's
    JSON; ``""`` for a row with nothing to seal (how ``EncryptedJSONField`` stores ``{}``)."""
    return [encrypt(text) if text != "{}" else "" for text in pii_texts(columns, count)]


def indexer(key: bytes, purpose: str):
    """``core.crypto.blind_index`` for one purpose: HMAC-SHA256 of ``"{purpose}:{value}"``
    (the standard library's HMAC here; the same digests, tested)."""
    keyed = hmac.new(key, f"{purpose}:".encode(), "sha256")

    def index(value: str) -> str:
        mac = keyed.copy()
        mac.update(value.encode())
        return mac.hexdigest()

    return index


# --- the helper process -------------------------------------------------------------------


class HelperFailed(RuntimeError):
    """The helper process stopped before answering (its traceback is on stderr)."""


class Helper:
    """Runs sealing jobs in a helper process, in order, while the caller goes on: ``seal``
    returns at once, with a function that waits for that job's answer. One thread writes the
    jobs to the helper and another reads its answers as they come, so that neither process ever
    waits on a full pipe (an answer is larger than a pipe holds) while the other is busy.

    It is given the Fernet key tokens are made with, the blind-index key, and the purposes of
    the phone and ID number indexes."""

    def __init__(
        self,
        *,
        fernet_key: str,
        index_key: bytes,
        purposes: tuple[str, str],
        max_frame: int = MAX_FRAME,
    ):
        self.max_frame = max_frame  # the longest answer believed (smaller in a test)
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=PROJECT,
        )
        self.jobs: SimpleQueue = SimpleQueue()
        self.answers: SimpleQueue = SimpleQueue()  # in job order; None: the helper stopped
        self.waiting: deque[list] = deque()  # [answer or None] per job, oldest first
        self.stolen = 0  # jobs done in this process because the helper was behind
        self.sender = threading.Thread(target=self._send, name="helper-jobs", daemon=True)
        self.reader = threading.Thread(target=self._read_all, name="helper-answers", daemon=True)
        self.sender.start()
        self.reader.start()
        start = {"fernet": _text(fernet_key), "index": _text(index_key), "purposes": purposes}
        self.jobs.put(json.dumps(start).encode())

    def seal(self, columns: list[tuple[str, list]], count: int, *, indexes: bool, here=None):
        """The ``pii`` column (see ``seal``); with ``indexes``, also the phone and ID number
        blind indexes (``columns`` hold both): ``(pii, phone indexes, ID indexes)``.

        ``here``: the same work done in this process. When the answer is asked for and has not
        come yet (the helper is behind: the machine is busy), it is done here instead and the
        helper's answer dropped when it comes, so a helper never makes an import slower than
        doing it all here (tokens differ only by their random IVs: either is the lead's)."""
        box = [None]
        self.waiting.append(box)
        self.jobs.put(json.dumps([columns, count, indexes], ensure_ascii=False).encode())

        def answer():
            while box[0] is None and not self.answers.empty():
                self._receive()  # answers already here, in order: no wait
            if box[0] is None and here is not None:
                self.stolen += 1
                box[0] = []  # taken: its answer, when it comes, is dropped
                return here()
            while box[0] is None:
                self._receive()
            lines = box[0]
            return _thirds(lines, count) if indexes else lines[:count]  # (no rows: one line)

        return answer

    def _receive(self) -> None:
        try:
            data = self.answers.get(timeout=TIMEOUT)
        except Empty:
            self.process.kill()
            raise HelperFailed(f"sealing helper stopped answering ({TIMEOUT} s)") from None
        if data is None:
            self.answers.put(None)  # for whoever asks next
            raise HelperFailed(f"sealing helper stopped (exit code {self.process.wait()})")
        self.waiting.popleft()[0] = data.decode("ascii").split("\n")

    def _read_all(self) -> None:
        try:
            while (data := _read(self.process.stdout, self.max_frame)) is not None:
                self.answers.put(data)
        except (OSError, ValueError):  # closed by abort(), or a garbled frame
            # Nobody can understand the helper any more: end it, so that whoever waits for it
            # (``_receive``, ``close``) gets its exit code instead of waiting forever.
            self.process.kill()
        finally:
            self.answers.put(None)  # the end, however it came

    def _send(self) -> None:
        stdin = self.process.stdin
        with contextlib.suppress(OSError):  # the helper is gone: the next result says so
            while (data := self.jobs.get()) is not None:
                _write(stdin, data)
        with contextlib.suppress(OSError):
            stdin.close()

    def close(self, *, check: bool = True) -> None:
        """End the helper after its last job. With ``check``, a helper that failed (even if
        every answer it owed was done here) fails the caller: its import then writes nothing."""
        self.jobs.put(None)
        self.sender.join(timeout=5)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.reader.join(timeout=5)
        self.process.stdout.close()
        if check and self.process.returncode:
            raise HelperFailed(f"sealing helper stopped (exit code {self.process.returncode})")

    def abort(self) -> None:
        """End the helper at once (the import failed)."""
        self.process.kill()
        self.close(check=False)


def _text(key) -> str:
    return key.decode() if isinstance(key, bytes) else key


def _thirds(lines: list[str], count: int) -> tuple[list[str], list[str], list[str]]:
    return lines[:count], lines[count : 2 * count], lines[2 * count : 3 * count]


def _write(stream, data: bytes) -> None:
    """One frame: its length, then its bytes, straight to the pipe's descriptor. Python's
    buffered writer garbled frames when a write on a full pipe was interrupted (seen with the
    process stopped and resumed by a sampling profiler)."""
    frame = memoryview(len(data).to_bytes(8, "big") + data)
    while frame:
        frame = frame[os.write(stream.fileno(), frame) :]


def _read(stream, max_frame: int = MAX_FRAME) -> bytes | None:
    """One frame, or None at the end of the stream."""
    head = stream.read(8)
    if len(head) < 8:
        return None
    size = int.from_bytes(head, "big")
    if size > max_frame:
        raise ValueError(f"garbled frame: {size} bytes announced")
    data = stream.read(size)
    return data if len(data) == size else None


def serve(stdin, stdout) -> None:
    """The helper's loop: the keys, then one answer per job until stdin closes."""
    start = _read(stdin)
    if start is None:
        return
    start = json.loads(start)
    fernet = Fernet(start["fernet"])
    phone_index, id_index = (indexer(start["index"].encode(), p) for p in start["purposes"])

    def encrypt(text: str) -> str:
        return fernet.encrypt(text.encode()).decode("ascii")

    while (data := _read(stdin)) is not None:
        columns, count, indexes = json.loads(data)
        lines = seal(encrypt, columns, count)
        if indexes:
            values = dict(columns)
            lines += map(phone_index, values["phone"])
            lines += map(id_index, values["id_number"])
        _write(stdout, "\n".join(lines).encode("ascii"))


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
