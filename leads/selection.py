"""How the command-line twins of the admin actions pick leads and a partner."""

from django.core.management.base import CommandError

from leads.models import Lead
from partners.models import Partner


def add_selection_arguments(parser) -> None:
    parser.add_argument("--partner", required=True, metavar="SLUG")
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--all", action="store_true", help="every lead")
    which.add_argument("--ids", nargs="+", type=int, metavar="ID", help="these lead ids")


def selected_partner(slug: str) -> Partner:
    try:
        partner = Partner.objects.get(slug=slug)
    except Partner.DoesNotExist:
        known = ", ".join(Partner.objects.values_list("slug", flat=True)) or "none"
        raise CommandError(f"no partner {slug!r} (known: {known})") from None
    if not partner.is_active:
        raise CommandError(f"partner {slug!r} is not active")
    return partner


def selected_leads(*, all: bool, ids: list[int] | None):
    if all:
        return Lead.objects.order_by("pk")
    leads = Lead.objects.filter(pk__in=ids).order_by("pk")
    missing = sorted(set(ids) - set(leads.values_list("pk", flat=True)))
    if missing:
        raise CommandError(f"no lead with id {', '.join(map(str, missing))}")
    return leads
