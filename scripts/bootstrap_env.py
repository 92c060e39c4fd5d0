"""Write a .env for local use from .env.example, with fresh random keys. Never overwrites."""

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


def main() -> int:
    target = ROOT / ".env"
    if target.exists():
        return 0
    lines = []
    for line in (ROOT / ".env.example").read_text(encoding="utf-8").splitlines():
        name, sep, value = line.partition("=")
        if sep and not line.startswith("#") and name in GENERATED and value in ("", "change-me"):
            line = f"{name}={GENERATED[name]()}"
        lines.append(line)
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    target.chmod(0o600)
    print(f"wrote {target} with fresh keys (keep it: the keys decrypt your data)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
