from django.core.management.base import BaseCommand, CommandError

from partners.models import Partner
from sandbox.server import Fault, SandboxConfig, SandboxPartner


class Command(BaseCommand):
    help = (
        "Serve the sandbox partner (both partner APIs) on a local port. Credentials come from the "
        "partners' environments (test or production) whose base URL points at this sandbox, plus "
        "any --credential given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8765)
        parser.add_argument(
            "--credential",
            action="append",
            default=[],
            metavar="NAME=KEY",
            help="a utmSource or clientId and its key (repeatable)",
        )
        parser.add_argument("--latency-ms", type=int, default=0)
        parser.add_argument("--fault", choices=[f for f in Fault.ALL if f], default=Fault.NONE)

    def handle(self, *args, host, port, credential, latency_ms, fault, **options):
        credentials = self._partner_credentials(host, port)
        for item in credential:
            name, sep, key = item.partition("=")
            if not (sep and name and key):
                raise CommandError(f"--credential takes NAME=KEY, got {item!r}")
            credentials[name] = key
        if not credentials:
            raise CommandError(
                "no credentials: add a partner pointing at this sandbox, or pass --credential"
            )
        sandbox = SandboxPartner(
            SandboxConfig(credentials=credentials, latency_ms=latency_ms, fault=fault)
        )
        self.stdout.write(
            f"sandbox partner on http://{host}:{port} for {len(credentials)} credential(s); "
            f"push URL http://{host}:{port}/api/push/user"
        )
        try:
            sandbox.serve_forever(host, port)
        except KeyboardInterrupt:
            sandbox.stop()

    @staticmethod
    def _partner_credentials(host: str, port: int) -> dict[str, str]:
        prefixes = {f"http://{name}:{port}" for name in (host, "127.0.0.1", "localhost")}
        credentials = {}
        for partner in Partner.objects.all():
            for environment in ("test", "production"):
                base_url = getattr(partner, f"{environment}_base_url")
                if not any(base_url.startswith(prefix) for prefix in prefixes):
                    continue
                key = getattr(partner, f"{environment}_secret_key")
                credentials[partner.utm_source] = key
                if client_id := getattr(partner, f"{environment}_client_id"):
                    credentials[client_id] = key
        return credentials
