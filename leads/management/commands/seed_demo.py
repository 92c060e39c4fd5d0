import random
import secrets
from base64 import b32encode

from axes.utils import reset as reset_lockout
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice, StaticToken
from django_otp.plugins.otp_totp.models import TOTPDevice

from core.roles import AUDITOR, OPERATOR
from distribution.models import Mode, Plan
from leads.demo import fake_lead_fields
from leads.models import Lead, phone_index
from partners.models import Partner

DEMO_SOURCE = "demo"
RECOVERY_CODES = 5
DEMO_PARTNERS = [
    ("演示平台 A", "demo-a", "leaddesk_demo_a", "THIRDPARTY_QUNADAI", True),
    ("演示平台 B（data 为嵌套对象）", "demo-b", "leaddesk_demo_b", "THIRDPARTY_DEMO_B", False),
]
# Commercial terms of the demo partners, by slug: A pays more and goes first in the waterfall.
DEMO_TERMS = {
    "demo-a": {"priority": 2, "price_per_push": 35, "check_valid_days": 30},
    "demo-b": {"priority": 1, "price_per_push": 28, "check_valid_days": 30},
}
DEMO_PLAN = "演示方案（独家）"


class Command(BaseCommand):
    help = "Load demo data: an admin, an operator and an auditor, partners pointing at the sandbox, a few hundred fake leads."

    def add_arguments(self, parser):
        parser.add_argument("--sandbox-port", type=int, default=8765)
        parser.add_argument("--leads", type=int, default=300)
        parser.add_argument(
            "--admin-port", type=int, default=8000, help="only for the login printed"
        )

    @transaction.atomic
    def handle(self, *args, sandbox_port, leads, admin_port, **options):
        sandbox = f"http://127.0.0.1:{sandbox_port}"
        for name, slug, utm_source, client_id, data_as_string in DEMO_PARTNERS:
            # The demo partners run in their test environment, which is the sandbox.
            fields = {
                "name": name,
                "test_base_url": sandbox,
                "test_push_url": f"{sandbox}/api/push/user",
                "utm_source": utm_source,
                "test_client_id": client_id,
                "push_data_as_string": data_as_string,
            }
            # A re-run keeps each partner's key.
            Partner.objects.update_or_create(
                slug=slug,
                defaults=fields,
                create_defaults={
                    **fields,
                    **DEMO_TERMS[slug],
                    "test_secret_key": secrets.token_urlsafe(24),
                },
            )
        plan, _ = Plan.objects.get_or_create(name=DEMO_PLAN, defaults={"mode": Mode.EXCLUSIVE})
        plan.partners.set(Partner.objects.filter(slug__in=DEMO_TERMS))
        created = self._leads(leads)
        people = self._team()
        password = secrets.token_urlsafe(12)
        user_model = get_user_model()
        admin = user_model.objects.filter(username="admin").first() or user_model(username="admin")
        admin.is_staff = admin.is_superuser = True
        admin.set_password(password)
        admin.save()
        key, codes = self._second_factor(admin)
        reset_lockout(username=admin.username)  # a new password deserves a fresh start
        self.stdout.write(
            self.style.SUCCESS(
                f"demo: {len(DEMO_PARTNERS)} partners on the sandbox at {sandbox}, the plan {DEMO_PLAN},"
                f" {created} new leads"
            )
        )
        self.stdout.write(
            self.style.SUCCESS(
                "to try it as its users (no second factor: they hold no reserved right): "
                + ", ".join(f"{role} {name} / {secret}" for role, name, secret in people)
            )
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"admin login: http://127.0.0.1:{admin_port}/admin/  user: admin  password: {password}"
            )
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"second factor: the code of an authenticator app given the key {key} (time-based, "
                "6 digits), or 使用恢复码 and one of these one-time recovery codes: "
                + " ".join(codes)
            )
        )

    @staticmethod
    def _team() -> list[tuple[str, str, str]]:
        """An operator and an auditor (core.roles), with a fresh password each run."""
        user_model = get_user_model()
        team = []
        for role, username in ((OPERATOR, "operator"), (AUDITOR, "auditor")):
            user, _ = user_model.objects.get_or_create(username=username)
            user.is_staff, user.is_superuser = True, False
            password = secrets.token_urlsafe(9)
            user.set_password(password)
            user.save()
            user.groups.set([Group.objects.get(name=role)])
            reset_lockout(username=username)
            team.append((role, username, password))
        return team

    @staticmethod
    def _second_factor(admin) -> tuple[str, list[str]]:
        """A superuser must pass a second factor. The demo admin's authenticator is kept across
        runs (its key printed, for an app on a phone); its recovery codes are new each run, for
        a demo without a phone. Returns the key (base32, as apps take it) and the codes."""
        totp, _ = TOTPDevice.objects.get_or_create(user=admin, name="default")
        backup, _ = StaticDevice.objects.get_or_create(user=admin, name="backup")
        backup.token_set.all().delete()
        codes = [StaticToken.random_token() for _ in range(RECOVERY_CODES)]
        StaticToken.objects.bulk_create(StaticToken(device=backup, token=code) for code in codes)
        return b32encode(totp.bin_key).decode(), codes

    @staticmethod
    def _leads(count: int) -> int:
        existing = Lead.objects.filter(source=DEMO_SOURCE).count()
        rng = random.Random(existing)
        created = 0
        while existing + created < count:
            lead = Lead(source=DEMO_SOURCE, **fake_lead_fields(rng))
            if not Lead.objects.filter(phone_index=phone_index(lead.phone)).exists():
                lead.save()
                created += 1
        return created
