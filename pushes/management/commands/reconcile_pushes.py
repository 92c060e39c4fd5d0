"""manage.py reconcile_pushes [--partner SLUG]: the command-line twin of the push list's 对账
action. Each *unknown* push is settled by checking its lead again (pushes.services
.reconcile_unknown_pushes): status 1 means the push landed. Partner by partner, so that one
partner being paused or off does not keep the others unsettled; the exit status is 1 when a
partner could not be reconciled or a check failed (those pushes stay unknown), else 0."""

from django.core.management.base import BaseCommand, CommandError

from collision.models import CheckOutcome, CollisionResult
from partners.calls import PartnerUnavailable
from partners.models import Partner
from pushes.models import Push, PushState
from pushes.services import reconcile_unknown_pushes


class Command(BaseCommand):
    help = "对账：重新撞库确认结果未知的推送（与推送记录页的“对账”操作相同）"

    def add_arguments(self, parser):
        parser.add_argument("--partner", metavar="SLUG", help="只对账这个合作平台（标识）")

    def handle(self, *args, partner=None, **options):
        unknown = Push.objects.filter(state=PushState.UNKNOWN)
        if partner is not None:
            chosen = Partner.objects.filter(slug=partner).first()
            if chosen is None:
                known = "、".join(Partner.objects.values_list("slug", flat=True)) or "无"
                raise CommandError(f"没有标识为 {partner!r} 的合作平台（已有：{known}）")
            unknown = unknown.filter(partner=chosen)
            partners = [chosen]
        else:
            partners = list(Partner.objects.filter(pk__in=unknown.values("partner")))
        totals = {"accepted": 0, "still_unknown": 0, "failed_checks": 0, "erased": 0}
        errors = []
        for each in partners:
            pushes = unknown.filter(partner=each)
            lead_ids = list(pushes.values_list("lead_id", flat=True))
            last_result = CollisionResult.objects.order_by("-pk").values_list("pk", flat=True)
            before = last_result.first() or 0
            try:
                outcome = reconcile_unknown_pushes(pushes=pushes, actor=None)
            except PartnerUnavailable as exc:
                errors.append(f"{each.name}：{exc}")
                self.stderr.write(f"对账失败（{each}）：{exc}")
                continue
            # A check that failed proves nothing: its push stays unknown, and the run says so.
            failed = (
                CollisionResult.objects.filter(pk__gt=before, partner=each, lead_id__in=lead_ids)
                .exclude(outcome=CheckOutcome.ANSWERED)
                .count()
            )
            totals["accepted"] += outcome["accepted"]
            totals["still_unknown"] += outcome["still_unknown"]
            totals["failed_checks"] += failed
            totals["erased"] += outcome["erased"]
            self.stdout.write(
                f"{each}：结果未知的推送 {len(lead_ids)} 条，确认已接收 {outcome['accepted']} 条，"
                f"仍未知 {outcome['still_unknown']} 条（其中撞库失败 {failed} 条），"
                f"个人信息已删除 {outcome['erased']} 条"
            )
            if failed:
                errors.append(f"{each.name}：{failed} 条撞库失败")
        self.stdout.write(
            f"对账完成：确认已接收 {totals['accepted']} 条，仍未知 {totals['still_unknown']} 条"
            f"（其中撞库失败 {totals['failed_checks']} 条），个人信息已删除 {totals['erased']} 条。"
            + (
                "仍未知的推送可以再次对账，或在推送记录页明确重试。"
                if totals["still_unknown"]
                else ""
            )
        )
        if errors:
            raise CommandError("对账未全部完成：" + "；".join(errors))
