"""Real server processes for tests (runserver, gunicorn, scripts/serve) on a free loopback port,
configured through the environment like a deployment, against the test database."""

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from tests.workers import ROOT, database_url

# Only what a process needs to run: nothing of the test run's own settings leaks in.
PASSED_THROUGH = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def fresh_keys() -> dict[str, str]:
    """Throwaway keys, strong enough for `check --deploy`."""
    return {
        "SECRET_KEY": secrets.token_urlsafe(50),
        "FIELD_ENCRYPTION_KEYS": base64.urlsafe_b64encode(os.urandom(32)).decode(),
        "BLIND_INDEX_KEY": secrets.token_urlsafe(32),
    }


def server_env(**overrides: str) -> dict[str, str]:
    """A deployment's environment: the test database and the test run's PII keys (the server
    reads what the test wrote), logs at INFO."""
    env = {name: os.environ[name] for name in PASSED_THROUGH if name in os.environ}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url(),
        SECRET_KEY=secrets.token_urlsafe(50),
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        BLIND_INDEX_KEY=settings.BLIND_INDEX_KEY,
        LOG_LEVEL="INFO",
        PYTHONUNBUFFERED="1",
    )
    env.update(overrides)
    return env


class Server:
    def __init__(self, process: subprocess.Popen, port: int, log: Path):
        self.process, self.port, self.log = process, port, log
        self.url = f"http://127.0.0.1:{port}"

    def output(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def get(self, path: str, **headers: str) -> tuple[int, bytes]:
        request = urllib.request.Request(f"{self.url}{path}", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def wait_ready(self, *, timeout: float = 60.0) -> None:
        """Until /healthz answers at all (it may say 503)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(
                    f"server exited with {self.process.returncode}:\n{self.output()}"
                )
            try:
                self.get("/healthz")
                return
            except OSError:
                time.sleep(0.2)
        raise AssertionError(f"server not answering after {timeout} s:\n{self.output()[-3000:]}")

    def stop(self) -> None:
        """SIGTERM to the process group it leads (the server and the workers it started)."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)


@contextmanager
def running(command: list[str], env: dict[str, str], log: Path, *, port: int, ready: bool = True):
    """Run ``command`` in a process group of its own, its output (stdout and stderr) to ``log``."""
    with log.open("wb") as out:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(process, port, log)
    try:
        if ready:
            server.wait_ready()
        yield server
    finally:
        server.stop()


def gunicorn(port: int, env: dict[str, str], log: Path, **kwargs):
    """Gunicorn as `make serve` runs it (config/gunicorn.py), one worker process."""
    env = {"GUNICORN_BIND": f"127.0.0.1:{port}", "WEB_CONCURRENCY": "1", **env}
    command = [sys.executable, "-m", "gunicorn", "-c", "config/gunicorn.py"]
    return running(command, env, log, port=port, **kwargs)


def runserver(port: int, env: dict[str, str], log: Path, **kwargs):
    """`make run`'s server (runserver), without the reloader."""
    command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    return running(command, env, log, port=port, **kwargs)
