"""manage.py reconcile_pushes [--partner SLUG]: the command-line twin of the push list's 对账,
against the real sandbox: a push that landed is settled, one that did not stays unknown, and
anything that could not be reconciled makes the command fail (non-zero exit)."""

import io
import subprocess
import sys

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from collision.services import check_leads
from leads.models import Lead
from partners.models import Partner
from pushes.models import Push, PushState
from pushes.services import push_leads
from sandbox.server import PUSH_PATH, Fault
from tests.servers import server_env
from tests.workers import ROOT


def unknown_pushes(partner, sandbox, make_leads, *, landed: int, lost: int) -> list[Push]:
    """Pushes left *unknown*: ``landed`` the sandbox processed then answered too late, ``lost``
    whose connection broke before it read them."""
    check_leads(partner=partner, leads=make_leads(10 * (landed + lost) + 2))
    marketable = list(Lead.objects.filter(collision_results__is_marketable=True))
    Partner.objects.filter(pk=partner.pk).update(read_timeout=0.5)
    partner.refresh_from_db()
    sandbox.config.timeout_delay_s = 1.0
    for index, lead in enumerate(marketable[: landed + lost]):
        sandbox.inject(Fault.TIMEOUT if index < landed else Fault.RESET, times=1)
        push_leads(partner=partner, leads=Lead.objects.filter(pk=lead.pk))
    pushes = list(Push.objects.order_by("pk"))
    assert [push.state for push in pushes] == [PushState.UNKNOWN] * (landed + lost)
    return pushes


def reconcile(*args: str) -> str:
    out = io.StringIO()
    call_command("reconcile_pushes", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_it_settles_what_landed_and_leaves_the_rest_unknown(partner, sandbox, make_leads):
    landed, lost = unknown_pushes(partner, sandbox, make_leads, landed=1, lost=1)

    output = reconcile("--partner", partner.slug)

    landed.refresh_from_db()
    lost.refresh_from_db()
    assert (landed.state, lost.state) == (PushState.ACCEPTED, PushState.UNKNOWN)
    assert (
        f"{partner}：结果未知的推送 2 条，确认已接收 1 条，仍未知 1 条（其中撞库失败 0 条）"
        in output
    )
    assert output.rstrip().splitlines()[-1] == (
        "对账完成：确认已接收 1 条，仍未知 1 条（其中撞库失败 0 条），个人信息已删除 0 条。"
        "仍未知的推送可以再次对账，或在推送记录页明确重试。"
    )
    assert sandbox.calls(PUSH_PATH) == 2  # settled by checks, nothing pushed again


def test_without_a_partner_it_reconciles_every_partner(partner, sandbox, make_leads):
    unknown_pushes(partner, sandbox, make_leads, landed=2, lost=0)
    output = reconcile()
    assert "对账完成：确认已接收 2 条，仍未知 0 条" in output
    assert not Push.objects.filter(state=PushState.UNKNOWN).exists()
    assert reconcile().rstrip() == (
        "对账完成：确认已接收 0 条，仍未知 0 条（其中撞库失败 0 条），个人信息已删除 0 条。"
    )


def test_a_failed_check_fails_the_command_and_leaves_the_push_unknown(partner, sandbox, make_leads):
    (push,) = unknown_pushes(partner, sandbox, make_leads, landed=1, lost=0)
    sandbox.inject(Fault.HTTP_500)

    with pytest.raises(CommandError, match="对账未全部完成：沙箱平台：1 条撞库失败"):
        reconcile("--partner", partner.slug)
    push.refresh_from_db()
    assert push.state == PushState.UNKNOWN


def test_a_paused_partner_fails_the_command(partner, sandbox, make_leads):
    unknown_pushes(partner, sandbox, make_leads, landed=1, lost=0)
    Partner.objects.filter(pk=partner.pk).update(is_paused=True, last_error="连续失败")

    with pytest.raises(CommandError, match="对账未全部完成：沙箱平台：合作平台 沙箱平台 已暂停"):
        reconcile()
    assert Push.objects.get().state == PushState.UNKNOWN


def test_an_unknown_partner_is_named_in_chinese(partner):
    with pytest.raises(CommandError, match="没有标识为 'nope' 的合作平台（已有：sandbox）"):
        reconcile("--partner", "nope")


@pytest.mark.django_db(transaction=True)  # the command's process reads the test database
def test_the_exit_status_is_not_zero_on_errors():
    """As an operator runs it: manage.py exits 1 on a CommandError."""
    done = subprocess.run(
        [sys.executable, "manage.py", "reconcile_pushes", "--partner", "nope"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=server_env(),
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "没有标识为 'nope' 的合作平台" in done.stderr
