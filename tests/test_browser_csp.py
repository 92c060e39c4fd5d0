"""The admin works under its Content-Security-Policy: every main page, opened in Chromium, sends the
policy and the browser reports no violation of it (no blocked inline script, style attribute,
stylesheet or request), while the pages' own scripts run (the job page's live progress, the
import batch page's poll, the action checkboxes)."""

import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.utils import timezone
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from collision.services import check_leads
from jobs.models import Job, JobKind, JobState
from leads.models import ImportBatch, ImportState
from partners.models import AuditLogEntry, Environment, Partner
from tests.browser import browser_page, log_in, requires_chromium
from tests.import_files import CHINESE_HEADERS, lead_rows, xlsx_bytes

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct-horse-battery"
PERMISSIONS = {
    "leads": ["view_lead", "import_lead", "view_importbatch", "check_lead"],
    "jobs": ["view_job"],
    "partners": ["view_partner", "view_auditlogentry"],
}
# Every violation the page itself sees, including those of its scripts' requests.
COLLECT_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolations.push(`${event.violatedDirective} blocked ${event.blockedURI || "inline"}`
    + ` (${event.sourceFile || ""}:${event.lineNumber || ""})`);
});
"""


def viewer() -> User:
    """Staff without personal-data rights (no second factor needed) who may open every page."""
    user = User.objects.create_user("viewer", password=PASSWORD, is_staff=True)
    for app, codenames in PERMISSIONS.items():
        user.user_permissions.add(
            *Permission.objects.filter(content_type__app_label=app, codename__in=codenames)
        )
    return user


def update(model, pk, **fields) -> None:
    """A worker's progress write from inside the Playwright block (its own connection)."""
    model.objects.filter(pk=pk).update(**fields)
    connection.close()


def test_main_admin_pages_raise_no_csp_violation(live_server, partner, make_leads, tmp_path):
    user = viewer()
    leads = make_leads(3)
    check_leads(partner=partner, leads=leads)  # a timeline on the lead page, audit log rows
    # Production is shown in the error colour on the partner picker, a paused partner in the list.
    Partner.objects.filter(pk=partner.pk).update(
        environment=Environment.PRODUCTION,
        production_base_url=partner.test_base_url,
        production_push_url=partner.test_push_url,
        production_client_id=partner.test_client_id,
        production_secret_key=partner.test_secret_key,
    )
    Partner.objects.create(
        name="已暂停平台",
        slug="paused",
        test_base_url=partner.test_base_url,
        secret_key="paused-key",
        receives_pushes=False,
        is_paused=True,
        last_error="连续失败",
    )
    audit_row = AuditLogEntry.objects.order_by("pk").first()
    job = Job.objects.create(
        kind=JobKind.CHECK, partner=partner, created_by=user, total=10, processed=3
    )
    Job.objects.filter(pk=job.pk).update(state=JobState.RUNNING)
    running_batch = ImportBatch.objects.create(
        file_name="大文件.xlsx",
        created_by=user,
        state=ImportState.ANALYSING,
        phase="校验数据",
        progress_done=40_000,
        progress_total=100_000,
        heartbeat_at=timezone.now(),
    )
    rows = lead_rows(3)
    rows[1][1] = "452159198001010000"  # one rejected row: the rejected-rows table and download
    upload = tmp_path / "渠道F.xlsx"
    upload.write_bytes(xlsx_bytes(CHINESE_HEADERS, rows))

    console, policies = [], {}
    base = live_server.url
    with browser_page() as page:
        page.add_init_script(COLLECT_VIOLATIONS)
        page.on(
            "console",
            lambda message: (
                console.append(message.text) if "Content Security Policy" in message.text else None
            ),
        )
        page.on(
            "response",
            lambda response: (
                policies.__setitem__(response.url, response.headers.get("content-security-policy"))
                if response.request.resource_type == "document"
                else None
            ),
        )
        seen = {}

        def visit(name: str, path: str = "", *, then=None) -> None:
            if path:
                page.goto(f"{base}{path}")
            if then:
                then()
            page.wait_for_load_state("load")
            seen[name] = page.evaluate("window.cspViolations")
            assert policies.get(page.url), f"{name}: no Content-Security-Policy on {page.url}"

        def script_shows(name: str, predicate: str) -> None:
            """A page's own script did its work (an arrow function: a string would be eval'd,
            which the policy forbids)."""
            try:
                page.wait_for_function(f"() => {predicate}", timeout=10_000)
            except PlaywrightTimeout:
                violations = page.evaluate("window.cspViolations")
                raise AssertionError(
                    f"{name}: its script did nothing; {violations} {console}"
                ) from None
            seen[name] += page.evaluate("window.cspViolations")

        log_in(page, base, "viewer", PASSWORD)
        visit("admin index", "/admin/")
        visit("lead list", "/admin/leads/lead/")
        page.check(f"input.action-select[value='{leads[0].pk}']")  # actions.js runs
        assert "1" in page.inner_text(".action-counter")
        page.select_option("select[name=action]", "collision_check")
        page.click("button[name=index]")
        page.wait_for_selector("form#choose-partner")
        visit("choose partner (production environment)")
        # Our stylesheet (leaddesk/admin.css, no style attributes) applies: production in red.
        assert page.evaluate(
            """() => {
                const badge = document.querySelector("tr.partner-environment .environment-production");
                return getComputedStyle(badge).color !== getComputedStyle(badge.parentElement).color;
            }"""
        )
        visit("lead search", f"/admin/leads/lead/?q={leads[0].phone}")
        visit("lead change page", f"/admin/leads/lead/{leads[0].pk}/change/")
        assert page.locator("#lead-timeline table").count() == 1

        visit("import page", "/admin/leads/lead/import/")
        page.set_input_files("#id_import_file", str(upload))
        page.click("#import-form input[type=submit]")
        page.wait_for_selector("#rejected-rows")
        visit("import batch preview")

        visit("import batch running", f"/admin/leads/importbatch/{running_batch.pk}/change/")
        update(ImportBatch, running_batch.pk, progress_done=80_000)
        script_shows("import batch running", "document.getElementById('progress-bar').value == 80")

        visit("job list", "/admin/jobs/job/")
        visit("job page", f"/admin/jobs/job/{job.pk}/change/")
        script_shows("job page", "document.getElementById('job-live').dataset.state == 'running'")
        update(Job, job.pk, processed=7)
        script_shows("job page", "document.getElementById('job-progress').value == 7")

        visit("partner list", "/admin/partners/partner/")
        visit("partner page", f"/admin/partners/partner/{partner.pk}/change/")
        visit("audit log", "/admin/partners/auditlogentry/")
        visit("audit log entry", f"/admin/partners/auditlogentry/{audit_row.pk}/change/")
        page.goto("about:blank")  # no poll left in flight when the test database goes away

    assert {name: found for name, found in seen.items() if found} == {}
    assert console == []
    assert all("unsafe-inline" not in policy for policy in policies.values())
    assert "script-src 'self' 'nonce-" in policies[f"{base}/admin/jobs/job/{job.pk}/change/"]
