"""Matching staged rows with leads already in the database (by blind index): new, existing,
update, or conflict; used by the analysis and again, inside the import's transaction, by the
writer."""

from django.db import connection
from django.utils.translation import gettext as _

from leads.models import Lead, OnDuplicate

QUERY_SLICE = 1000  # blind indexes per IN (...) look-up


def existing_leads(
    phone_keys: list[str], id_keys: list[str]
) -> tuple[dict[str, int], dict[str, int]]:
    """Which of these phones and ID numbers (blind indexes) are already leads: batched
    IN (...) look-ups on the unique blind indexes (plain SQL: the ORM spends longer preparing
    1000 parameters than the database spends answering)."""
    table = connection.ops.quote_name(Lead._meta.db_table)
    size = min(QUERY_SLICE, connection.features.max_query_params or QUERY_SLICE)
    found = []
    with connection.cursor() as cursor:
        for keys, column in ((phone_keys, "phone_index"), (id_keys, "id_number_index")):
            owners = {}
            for start in range(0, len(keys), size):
                part = keys[start : start + size]
                marks = ", ".join(["%s"] * len(part))
                cursor.execute(
                    f"SELECT {column}, id FROM {table} WHERE {column} IN ({marks})", part
                )  # noqa: S608
                owners.update(cursor.fetchall())
            found.append(owners)
    return found[0], found[1]


def classify(
    phone_key: str, id_key: str, by_phone: dict, by_id: dict, on_duplicate: str
) -> tuple[str, int | None]:
    """new, existing (skipped), update, or conflict (phone and ID belong to two different leads)."""
    phone_owner = by_phone.get(phone_key)
    id_owner = by_id.get(id_key)
    if phone_owner is None and id_owner is None:
        return "new", None
    if on_duplicate == OnDuplicate.SKIP:
        return "existing", phone_owner or id_owner
    if phone_owner and id_owner and phone_owner != id_owner:
        return "conflict", None
    return "update", phone_owner or id_owner


def conflict_reason(phone_key: str, id_key: str, by_phone: dict, by_id: dict, targets: dict) -> str:
    phone_owner = by_phone.get(phone_key)
    id_owner = by_id.get(id_key)
    if phone_owner and id_owner and phone_owner != id_owner:
        return _("手机号属于已有线索 #%(phone)s，身份证号属于另一条已有线索 #%(id)s，无法更新") % {
            "phone": phone_owner,
            "id": id_owner,
        }
    target = phone_owner or id_owner
    return _("与第 %(row)s 行更新的是同一条已有线索 #%(lead)s") % {
        "row": targets.get(target, "?"),
        "lead": target,
    }
