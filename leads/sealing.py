"""Sealing new leads' personal data, as ``Lead.pii`` stores it: one Fernet token (the first of
``FIELD_ENCRYPTION_KEYS``) of a compact JSON object. One token per lead is ~15 µs of CPU, a
sixth of a big import; it needs nothing but the values and the key, so a big import hands it to
a helper process on the other core while it inserts the leads sealed before (``Helper``).

The helper is ``python -m leads.sealing``: a fresh interpreter that imports this module only (no
Django, no settings, no database connection, nothing of the importing process), reads the key
and then jobs from its stdin and writes tokens to its stdout. Jobs are JSON, tokens ASCII; no
pickle crosses the pipe. It lives for one import: it exits when its stdin closes, so an
importer that dies takes it down, and an error in it (or its death) fails the import, whose
transaction then writes nothing.
"""

import contextlib
import json
import subprocess
import sys
import threading
from collections import deque
from json.encoder import encode_basestring
from pathlib import Path
from queue import SimpleQueue

from cryptography.fernet import Fernet

PROJECT = Path(__file__).resolve().parent.parent  # where ``-m leads.sealing`` is found


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


# --- the helper process -------------------------------------------------------------------


class HelperFailed(RuntimeError):
    """The helper process stopped before answering (its traceback is on stderr)."""


class Helper:
    """Seals jobs in a helper process, in order, while the caller goes on: ``submit`` returns
    at once, and the function it returns waits for that job's tokens. A thread writes the jobs
    to the pipe, so that neither process ever waits on a full pipe the other one is not
    reading."""

    def __init__(self, key: str):
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, this module
            [sys.executable, "-m", __name__],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            cwd=PROJECT,
        )
        self.jobs: SimpleQueue = SimpleQueue()
        self.waiting: deque[list] = deque()  # [tokens or None] per job, oldest first
        self.sender = threading.Thread(target=self._send, name="sealing-helper", daemon=True)
        self.sender.start()
        self.jobs.put(key.encode() if isinstance(key, str) else key)

    def submit(self, columns: list[tuple[str, list]], count: int):
        box = [None]
        self.waiting.append(box)
        self.jobs.put(json.dumps([columns, count], ensure_ascii=False).encode())

        def result() -> list[str]:
            while box[0] is None:
                self._receive()
            return box[0]

        return result

    def _receive(self) -> None:
        data = _read(self.process.stdout)
        if data is None:
            raise HelperFailed(f"sealing helper stopped (exit code {self.process.wait()})")
        self.waiting.popleft()[0] = data.decode("ascii").split("\n")

    def _send(self) -> None:
        stdin = self.process.stdin
        with contextlib.suppress(OSError):  # the helper is gone: the next result says so
            while (data := self.jobs.get()) is not None:
                _write(stdin, data)
        with contextlib.suppress(OSError):
            stdin.close()

    def close(self) -> None:
        """End the helper: after the last job when all went well, at once otherwise."""
        self.jobs.put(None)
        self.sender.join(timeout=5)
        try:
            self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process.stdout.close()

    def abort(self) -> None:
        self.process.kill()
        self.close()


def _write(stream, data: bytes) -> None:
    stream.write(len(data).to_bytes(8, "big"))
    stream.write(data)
    stream.flush()


def _read(stream) -> bytes | None:
    head = stream.read(8)
    if len(head) < 8:
        return None
    data = stream.read(int.from_bytes(head, "big"))
    return data if len(data) == int.from_bytes(head, "big") else None


def serve(stdin, stdout) -> None:
    """The helper's loop: the key, then one answer per job until stdin closes."""
    key = _read(stdin)
    if key is None:
        return
    fernet = Fernet(key)

    def encrypt(text: str) -> str:
        return fernet.encrypt(text.encode()).decode("ascii")

    while (data := _read(stdin)) is not None:
        columns, count = json.loads(data)
        _write(stdout, "\n".join(seal(encrypt, columns, count)).encode("ascii"))


if __name__ == "__main__":
    serve(sys.stdin.buffer, sys.stdout.buffer)
