"""The sizes an import works in. Each is a setting, ``LEAD_IMPORT_<NAME>``, with its default
here: a deployment or a test tunes them without reaching into the modules that use them."""

from django.conf import settings

DEFAULTS = {
    "CHUNK_ROWS": 10_000,  # staged (or rejected) rows per encrypted ImportChunk
    "BLOCK_ROWS": 2000,  # rows read and cleaned at a time
    "MEMO_WARM_UP": 5000,  # distinct values seen before a repeating column may give up its memo
    "SEAL_ROWS": 2000,  # rows per sealing job: the helper starts on a chunk's first rows at once
    "HELPER_ROWS": 20_000,  # importing this many new leads, a helper process seals them
}


def size(name: str) -> int:
    return getattr(settings, f"LEAD_IMPORT_{name}", DEFAULTS[name])
