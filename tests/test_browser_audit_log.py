"""An auditor reads a batch check in the audit log, in Chromium: the call to the second, its
leads as a table (masked phone, hash prefix, answer) above the folded raw bodies, a lead's link
that opens, a search by phone that finds the call, and the export offered."""

import re

import pytest
from django.contrib.auth.models import Group, User

from collision.services import check_leads
from core.masking import mask_phone
from core.roles import ROLES
from leads.models import Lead
from partners.models import AuditLogEntry
from tests.browser import browser_page, log_in, requires_chromium

pytestmark = [pytest.mark.browser, requires_chromium, pytest.mark.django_db(transaction=True)]
PASSWORD = "correct-horse-battery"


def test_an_auditor_reads_a_batch_check_and_follows_its_leads(live_server, partner, bulk_leads):
    bulk_leads(300)
    check_leads(partner=partner, leads=Lead.objects.all())
    entry = AuditLogEntry.objects.get()
    lead = Lead.objects.order_by("pk").first()
    auditor = User.objects.create_user("auditor", password=PASSWORD, is_staff=True)
    auditor.groups.add(Group.objects.get(name=list(ROLES)[1]))

    with browser_page() as page:
        log_in(page, live_server.url, "auditor", PASSWORD)
        page.goto(f"{live_server.url}/admin/partners/auditlogentry/")
        first_row = page.inner_text("#result_list tbody tr")
        assert re.search(r"\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}:\d{2}", first_row)
        assert page.is_visible("#audit-export")

        page.click("#result_list tbody tr th a")
        page.wait_for_selector("#audit-leads-table")
        assert "本次调用涉及的线索（300 条）" in page.inner_text("#audit-leads h2")
        rows = page.locator("#audit-leads-table tbody tr")
        assert rows.count() == 300
        table = page.inner_text("#audit-leads-table")
        assert mask_phone(lead.phone) in table and lead.phone not in page.content()
        assert re.search(r"\b[0-9a-f]{3}…", table)
        # The raw bodies are folded below the table, a click away.
        assert not page.is_visible(".field-pretty_request_body")
        page.locator("#audit-leads").scroll_into_view_if_needed()
        page.screenshot(path="/tmp/audit-batch-check.png", full_page=True)
        page.click("details summary")
        assert page.is_visible(".field-pretty_request_body")

        page.click(f'#audit-leads-table a[href$="/leads/lead/{lead.pk}/change/"]')
        page.wait_for_selector("#content")
        assert "403" not in page.title() and mask_phone(lead.phone) in page.inner_text("#content")

        page.goto(f"{live_server.url}/admin/partners/auditlogentry/?q={lead.phone}")
        listed = page.locator("#result_list tbody tr")
        assert listed.count() == 1
        assert f"/auditlogentry/{entry.pk}/change/" in listed.first.inner_html()
