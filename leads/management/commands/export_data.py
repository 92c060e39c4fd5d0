from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from collision.models import CollisionResult
from core.errors import LeadDeskError
from leads.exports.services import export_records
from leads.models import ExportKind, Lead
from pushes.models import Push

QUERYSETS = {
    "leads": (ExportKind.LEADS, Lead.objects.all),
    "collision-results": (ExportKind.COLLISION_RESULTS, CollisionResult.objects.all),
    "pushes": (ExportKind.PUSHES, Push.objects.all),
}


class Command(BaseCommand):
    help = (
        "Export leads, collision results or push history to .xlsx or .csv. Personal data is masked "
        "unless --unmasked, which needs --user holding leads.export_lead_pii; every export is recorded."
    )

    def add_arguments(self, parser):
        parser.add_argument("what", choices=sorted(QUERYSETS))
        parser.add_argument("--output", "-o", type=Path, required=True)
        parser.add_argument(
            "--format", choices=["xlsx", "csv"], help="default: from the output's suffix"
        )
        parser.add_argument("--source", help="leads: only this source")
        parser.add_argument("--unmasked", action="store_true")
        parser.add_argument("--user", help="who exports (recorded; needed for --unmasked)")

    def handle(self, *args, what, output, format, source, unmasked, user, **options):
        file_format = format or output.suffix.lstrip(".").lower()
        if file_format not in ("xlsx", "csv"):
            raise CommandError("say --format xlsx or csv (or use an .xlsx/.csv output name)")
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(f"no user {user!r}")
        kind, all_rows = QUERYSETS[what]
        queryset = all_rows()
        criteria = "all"
        if source:
            if kind != ExportKind.LEADS:
                raise CommandError("--source applies to leads only")
            queryset, criteria = queryset.filter(source=source), f"source={source}"
        try:
            exported = export_records(
                kind=kind, queryset=queryset, file_format=file_format, actor=actor,
                unmasked=unmasked, criteria=criteria, channel="cli",
            )  # fmt: skip
        except LeadDeskError as exc:
            raise CommandError(
                f"{exc} (--unmasked needs --user with leads.export_lead_pii)"
            ) from None
        with output.open("wb") as file:  # piece by piece, as the rows are read
            for piece in exported.pieces:
                file.write(piece)
        masked = "unmasked" if unmasked else "masked"
        self.stdout.write(
            self.style.SUCCESS(f"{exported.rows} rows ({masked}) written to {output}")
        )
