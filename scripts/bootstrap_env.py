"""Write a .env for local use from .env.example, with fresh random keys. Never overwrites.

``--production`` writes .env.production from .env.production.example instead (for `make serve`)
and exits with 1 when it did, so that `make serve` stops for the file to be reviewed."""

import base64
import os
import secrets
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GENERATED = {
    "SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "FIELD_ENCRYPTION_KEYS": lambda: base64.urlsafe_b64encode(os.urandom(32)).decode(),
    "BLIND_INDEX_KEY": lambda: secrets.token_urlsafe(32),
}


def main(argv: list[str]) -> int:
    production = "--production" in argv
    target = ROOT / (".env.production" if production else ".env")
    if target.exists():
        return 0
    lines = []
    for line in target.with_name(f"{target.name}.example").read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and name in GENERATED and value in ("", "change-me"):
            line = f"{name}={GENERATED[name]()}"
        lines.append(line)
    # Created readable by its owner only, from the first byte: it holds the keys.
    with os.fdopen(os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as file:
        file.write("\n".join(lines) + "\n")
    print(f"wrote {target} with fresh keys (keep it: the keys decrypt your data)")
    if production:
        print(
            f"review {target.name} (ALLOWED_HOSTS, CSRF_TRUSTED_ORIGINS, DATABASE_URL), then run "
            "make serve again",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
