import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from partners.protocols.signing import (
    collision_canonical,
    collision_sign,
    hide_key,
    push_canonical,
    push_sign,
)


class Command(BaseCommand):
    help = (
        "Print the canonical string (key hidden) and the signature for given inputs, to answer a "
        "partner's 'bad signature' complaint. The signature alone is on the last line."
    )

    def add_arguments(self, parser):
        modes = parser.add_subparsers(dest="mode", required=True)
        collision = modes.add_parser("collision", help="sorted params + &key=, md5")
        collision.add_argument("--key", required=True)
        collision.add_argument(
            "--params", required=True, help="the request parameters as JSON (sign is ignored)"
        )
        push = modes.add_parser("push", help="md5Hex(clientId + clientTime + bodyString + key)")
        push.add_argument("--key", required=True)
        push.add_argument("--client-id", required=True)
        push.add_argument("--client-time", required=True)
        push.add_argument(
            "--body-file", required=True, type=Path, help="the exact body bytes as sent"
        )

    def handle(self, *args, mode, key, **options):
        if mode == "collision":
            try:
                params = json.loads(options["params"])
            except ValueError as exc:
                raise CommandError(f"--params is not valid JSON: {exc}") from None
            if not isinstance(params, dict):
                raise CommandError("--params must be a JSON object")
            canonical = collision_canonical(params, key)
            signature = collision_sign(params, key)
        else:
            try:
                body = options["body_file"].read_bytes()
            except OSError as exc:
                raise CommandError(f"cannot read --body-file: {exc.strerror}") from None
            if body.endswith(b"\n"):
                self.stderr.write(
                    "note: the body file ends with a newline, which is signed as part of the body"
                )
            client_id, client_time = options["client_id"], options["client_time"]
            canonical = push_canonical(client_id, client_time, body, key).decode(
                "utf-8", errors="replace"
            )
            signature = push_sign(client_id, client_time, body, key)
        self.stdout.write(f"canonical: {hide_key(canonical, key)}")
        self.stdout.write(signature)
