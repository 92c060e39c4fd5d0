"""How personal data looks on screens, in exports and in the audit log when it must not be read."""

MASK = "*"


def mask_phone(phone: str) -> str:
    """186****4854"""
    if not phone:
        return ""
    if len(phone) < 7:
        return MASK * len(phone)
    return f"{phone[:3]}{MASK * (len(phone) - 7)}{phone[-4:]}"


def mask_id_number(id_number: str) -> str:
    """452159**********2X"""
    if not id_number:
        return ""
    if len(id_number) < 8:
        return MASK * len(id_number)
    return f"{id_number[:6]}{MASK * (len(id_number) - 8)}{id_number[-2:]}"


def mask_name(name: str) -> str:
    """李** : the family name stays, the rest goes."""
    if not name:
        return ""
    return name[0] + MASK * max(len(name) - 1, 1)


def mask_middle(value: str, *, keep: int = 2) -> str:
    """For account names and addresses: a short head and tail, the rest masked."""
    if not value:
        return ""
    if len(value) <= keep * 2:
        return MASK * len(value)
    return f"{value[:keep]}{MASK * 4}{value[-keep:]}"


def mask_address(address: str) -> str:
    if not address:
        return ""
    return address[:6] + MASK * 4


PII_HASH_PREFIX = 3
SIGNATURE_PREFIX = 6


def short_hash(digest: str, *, keep: int = PII_HASH_PREFIX) -> str:
    """A hash cut to a prefix: enough to match a log line, too little to single anyone out.

    An MD5 of personal data keeps 3 hex digits (4,096 values): a masked phone (186****4854)
    leaves 10,000 candidates, and 6 digits would pick out the one whose MD5 matches. A keyed
    signature cannot be brute-forced and keeps ``SIGNATURE_PREFIX``."""
    if not digest:
        return ""
    return digest[:keep] + "…"
