"""GET /healthz: may this server take requests, and are the background workers alive?

For load balancers and monitoring: no login, no session, no personal data, nothing else. JSON:

    {"status": "ok" | "degraded" | "error",
     "database": {"ok": true},
     "migrations": {"ok": true, "pending": 0},
     "worker": {"ok": true, "last_heartbeat": "2026-12-01T14:00:00+00:00", "age_seconds": 1.2,
                "alive": 2}}

HTTP 503 ("error") when the database does not answer or migrations are pending: this server
cannot serve. A stale or missing worker heartbeat (none within WORKER_HEARTBEAT_STALE_SECONDS)
is "degraded" with HTTP 200: pages work, background jobs wait; a load balancer keeps the server,
monitoring alerts on the status.

In ``config``, the project's wiring above every app: it reads the jobs' heartbeats, which core
(the floor every app stands on) may not.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Count, Max, Q
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

from jobs.models import WorkerHeartbeat

logger = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request):
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        pending = _pending_migrations()
        worker = _worker()
    except DatabaseError as error:
        # The error's text (host, user, database name) is for the log, not for the probe.
        logger.warning("healthz: database unavailable: %s", error)
        return JsonResponse({"status": "error", "database": {"ok": False}}, status=503)
    migrations = {"ok": not pending, "pending": pending}
    if pending:
        status = "error"
    elif worker["ok"]:
        status = "ok"
    else:
        status = "degraded"
    body = {"status": status, "database": {"ok": True}, "migrations": migrations, "worker": worker}
    return JsonResponse(body, status=503 if status == "error" else 200)


def _pending_migrations() -> int:
    executor = MigrationExecutor(connection)
    return len(executor.migration_plan(executor.loader.graph.leaf_nodes()))


def _worker() -> dict:
    now = timezone.now()
    fresh = now - timedelta(seconds=settings.WORKER_HEARTBEAT_STALE_SECONDS)
    beats = WorkerHeartbeat.objects.aggregate(
        newest=Max("seen_at"), alive=Count("pk", filter=Q(seen_at__gte=fresh))
    )
    newest = beats["newest"]
    return {
        "ok": beats["alive"] > 0,
        "last_heartbeat": newest.isoformat() if newest else None,
        "age_seconds": round((now - newest).total_seconds(), 1) if newest else None,
        "alive": beats["alive"],
    }
