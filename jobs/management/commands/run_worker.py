import logging
import signal
import threading

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import close_old_connections, connection

from jobs.handlers import janitor_passes
from jobs.models import WorkerHeartbeat
from jobs.runner import WORKER_ID
from jobs.services import requeue_due_jobs

logger = logging.getLogger("jobs.janitor")


class Command(BaseCommand):
    help = (
        "Run a background worker: django-tasks-db's db_worker, plus a janitor that requeues jobs whose "
        "worker died, whose pause is over or whose partner was resumed. Run several against PostgreSQL."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", action="store_true", help="drain the queue, then exit")
        parser.add_argument(
            "--interval", type=float, default=0.5, help="queue poll interval in seconds"
        )

    def handle(self, *args, batch, interval, **options):
        stop = threading.Event()
        # Not a daemon: when the worker leaves, the janitor removes its heartbeat before the
        # process ends, even if a second signal (Ctrl-C twice, a process group's SIGTERM and a
        # supervisor's) cuts the main thread's clean-up short.
        janitor = threading.Thread(target=self._janitor, args=(stop,), name="janitor")
        janitor.start()
        try:
            # --no-reload always: with the reloader, killing our PID would leave the child running.
            worker_options = {
                "interval": interval,
                "reload": False,
                "startup_delay": False,
                "verbosity": options["verbosity"],
            }
            call_command("db_worker", batch=batch, **worker_options)
        finally:
            # Leaving. db_worker answers a second signal (a process group's SIGTERM and then a
            # supervisor's) with sys.exit wherever the main thread is: during the interpreter's
            # wait for the janitor that abandoned it before it removed the heartbeat. Further
            # signals are ignored for the moment the clean-up takes.
            signal.signal(signal.SIGTERM, signal.SIG_IGN)
            signal.signal(signal.SIGINT, signal.SIG_IGN)
            stop.set()
            janitor.join()

    @staticmethod
    def _janitor(stop: threading.Event) -> None:
        """Every pass: the worker's heartbeat (for /healthz), then the requeues. Ends when told
        to, or at the latest one interval after the main thread has ended."""
        while not stop.is_set() and threading.main_thread().is_alive():
            try:
                WorkerHeartbeat.beat(WORKER_ID)
                requeued = requeue_due_jobs()
                if requeued:
                    logger.info("requeued job(s) %s", requeued)
                for janitor_pass in janitor_passes():
                    janitor_pass()
            except Exception:
                logger.exception("janitor pass failed")
            finally:
                close_old_connections()
            stop.wait(settings.JANITOR_INTERVAL_SECONDS)
        try:
            WorkerHeartbeat.stop(WORKER_ID)  # a clean stop: this worker is gone, not late
        except Exception:
            logger.exception("could not remove the worker's heartbeat")
        connection.close()
