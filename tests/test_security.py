"""DESIGN §5 as tests: partner keys and personal data stay out of logs, audit rows, pages, error
messages and the database, and encryption at rest fails loudly on a wrong key."""

import io
import json
import logging
import re
import sys

import pytest
from cryptography.fernet import Fernet
from django.conf import settings
from django.core import serializers
from django.core.exceptions import ImproperlyConfigured
from django.core.management import CommandError, call_command
from django.db import connection
from django.forms.models import model_to_dict
from django.test import override_settings
from django.urls import reverse
from django.views.debug import ExceptionReporter

from collision.models import CheckOutcome, CollisionResult
from collision.services import check_leads
from core.crypto import DecryptionError, EncryptedTextField, decrypt, reencrypt
from leads.models import ExportRecord, Lead
from partners.calls import PartnerUnavailable
from partners.models import AuditLogEntry, CallOutcome, Partner
from partners.protocols.signing import SecretKey, collision_sign
from partners.protocols.yrxd_collision import id_number_md5, phone_md5
from pushes.models import Push, PushState
from pushes.services import push_leads
from sandbox.server import Fault
from tests.conftest import PARTNER_KEY, UTM_SOURCE

WRONG_KEY = "wrong-partner-key-4711"
NEW_KEY = "rotated-partner-key-9876"


def marketable_ids(partner) -> list[int]:
    latest = CollisionResult.objects.latest_per_lead(partner)
    return sorted(latest.filter(is_marketable=True).values_list("lead_id", flat=True))


def run_everything(partner, sandbox, leads) -> list[str]:
    """Check and push through every path: success, wrong key, garbage, HTTP 500, reset.

    Returns every summary error and ``PartnerUnavailable`` text the services produced."""
    everyone = Lead.objects.filter(pk__in=[lead.pk for lead in leads]).order_by("pk")
    partner.failure_threshold = 1000  # every path must run: the breaker must not pause it
    partner.save()
    messages = []
    messages += check_leads(partner=partner, leads=everyone).errors  # batch endpoint
    messages += check_leads(partner=partner, leads=everyone[:1]).errors  # single endpoint
    groups = [marketable_ids(partner)[i::5] for i in range(5)]
    assert all(groups), "the seeded leads must give every phase a marketable lead"

    def push(group):
        return push_leads(partner=partner, leads=Lead.objects.filter(pk__in=group)).errors

    # Pushes first: a failed check would make the remaining leads unmarketable.
    messages += push(groups[0])  # accepted
    for fault, group in zip((Fault.GARBAGE, Fault.HTTP_500, Fault.RESET), groups[1:4], strict=True):
        sandbox.config.fault = fault
        messages += push(group)
    sandbox.config.fault = Fault.NONE
    partner.secret_key = WRONG_KEY
    partner.save()
    messages += push(groups[4])  # the sandbox refuses the signature
    for fault in (Fault.NONE, Fault.GARBAGE, Fault.HTTP_500, Fault.RESET):
        sandbox.config.fault = fault  # with the wrong key, then each fault with it
        messages += check_leads(partner=partner, leads=everyone).errors
        messages += check_leads(partner=partner, leads=everyone[:1]).errors
    sandbox.config.fault = Fault.NONE
    partner.secret_key = PARTNER_KEY
    partner.save()
    no_push_url = Partner.objects.get(pk=partner.pk)
    no_push_url.push_url = ""
    with pytest.raises(PartnerUnavailable) as refused:
        push_leads(partner=no_push_url, leads=everyone)
    messages.append(str(refused.value))

    # The run really went through each failure, so the assertions below are not vacuous.
    outcomes = set(AuditLogEntry.objects.values_list("outcome", flat=True))
    assert {
        CallOutcome.OK,
        CallOutcome.MALFORMED,
        CallOutcome.HTTP_ERROR,
        CallOutcome.CONNECTION_ERROR,
        CallOutcome.SIGNATURE_REJECTED,
    } <= outcomes
    states = set(Push.objects.values_list("state", flat=True))
    assert {PushState.ACCEPTED, PushState.UNKNOWN, PushState.FAILED} <= states
    return messages


def assert_no_keys(text: str) -> None:
    for key in (PARTNER_KEY, WRONG_KEY):
        assert key not in text
    assert "&key=" not in text  # the collision signature's canonical string ends with &key=…


# -- the partner's key -------------------------------------------------------------------------


def test_partner_key_never_in_logs_audit_rows_or_error_messages(
    caplog, partner, sandbox, make_leads
):
    """Success, wrong key, garbage, HTTP 500 and a reset: the key shows up nowhere."""
    caplog.set_level(logging.DEBUG)
    leads = make_leads(30)

    messages = run_everything(partner, sandbox, leads)

    # Logs, DEBUG included (urllib3 logs every request line).
    assert "partner call failed" in caplog.text
    assert any(record.name.startswith("urllib3") for record in caplog.records)
    assert_no_keys(caplog.text)
    for record in caplog.records:
        assert_no_keys(record.getMessage())
        assert_no_keys(repr(record.args))
        assert_no_keys(record.exc_text or "")
    for lead in Lead.objects.all():  # nor any number or its MD5
        for value in (lead.phone, lead.id_number, phone_md5(lead.phone)):
            assert value not in caplog.text

    # Audit rows, every column.
    entries = AuditLogEntry.objects.order_by("pk")
    assert entries.count() > 10
    assert_no_keys(serializers.serialize("json", entries))
    for entry in entries:
        assert_no_keys(repr(model_to_dict(entry)))

    # The signature is kept only as a short prefix (single check: its params are known).
    lead = Lead.objects.get(pk=leads[0].pk)
    params = {
        "utmSource": UTM_SOURCE,
        "phoneMd5": phone_md5(lead.phone),
        "idNoMd5": id_number_md5(lead.id_number),
    }
    full_sign = collision_sign(params, PARTNER_KEY)
    assert full_sign not in serializers.serialize("json", entries)
    assert any(full_sign[:6] in entry.request_body for entry in entries)
    # An MD5 of personal data keeps 3 hex digits: too few to pick a masked phone's MD5 out of
    # its 10,000 candidates.
    bodies = [
        json.loads(entry.request_body) for entry in entries if "phoneMd5" in entry.request_body
    ]
    assert {body["phoneMd5"] for body in bodies} == {params["phoneMd5"][:3] + "…"}

    # Error messages: summaries, results, pushes, audit errors.
    assert any("签名" in message for message in messages)
    texts = [
        *messages,
        *CollisionResult.objects.values_list("message", flat=True),
        *Push.objects.values_list("message", flat=True),
        *AuditLogEntry.objects.values_list("error", flat=True),
    ]
    for text in texts:
        assert_no_keys(text)


def call(command: str, *args) -> str:
    """Run a management command; return its stdout, stderr and any ``CommandError`` text."""
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except CommandError as exc:
        return f"{out.getvalue()}\n{err.getvalue()}\nCommandError: {exc}"
    return f"{out.getvalue()}\n{err.getvalue()}"


def test_partner_key_never_in_command_output_or_command_errors(partner, sandbox, make_leads):
    """The CLI twins print summaries and partner errors, never the key."""
    leads = make_leads(4)
    ids = [str(lead.pk) for lead in leads]
    outputs = {
        "check": call("check_leads", "--partner", "sandbox", "--all"),
        "push": call("push_leads", "--partner", "sandbox", "--ids", *ids),
        "unknown partner": call("check_leads", "--partner", "nope", "--all"),
        "unknown lead": call("push_leads", "--partner", "sandbox", "--ids", "999999"),
    }
    partner.secret_key = WRONG_KEY
    partner.save()
    outputs["wrong key, batch"] = call("check_leads", "--partner", "sandbox", "--all")
    outputs["wrong key, single"] = call("check_leads", "--partner", "sandbox", "--ids", ids[0])
    Partner.objects.filter(pk=partner.pk).update(receives_pushes=False)
    outputs["takes no pushes"] = call("push_leads", "--partner", "sandbox", "--all")
    Partner.objects.filter(pk=partner.pk).update(is_active=False)
    outputs["inactive"] = call("check_leads", "--partner", "sandbox", "--all")

    assert "checked=4 " in outputs["check"]
    assert "partner error: 9999 签名验证失败" in outputs["wrong key, batch"]
    assert "partner error: 9999 签名验证失败" in outputs["wrong key, single"]
    assert "CommandError: no partner 'nope' (known: sandbox)" in outputs["unknown partner"]
    assert "CommandError: no lead with id 999999" in outputs["unknown lead"]
    assert "CommandError: 合作平台 沙箱平台 不接收推送" in outputs["takes no pushes"]
    assert "CommandError: partner 'sandbox' is not active" in outputs["inactive"]
    for output in outputs.values():
        assert_no_keys(output)


# -- the partner's key in the admin ------------------------------------------------------------


def test_partner_key_never_on_admin_pages(admin_client, partner, sandbox, make_leads):
    """Partner list, change and history pages, audit list and every audit detail page."""
    run_everything(partner, sandbox, make_leads(30))
    admin_client.post(
        reverse("admin:partners_partner_change", args=[partner.pk]), partner_form_data(partner)
    )
    urls = [
        reverse("admin:partners_partner_changelist"),
        reverse("admin:partners_partner_change", args=[partner.pk]),
        reverse("admin:partners_partner_history", args=[partner.pk]),
        reverse("admin:partners_auditlogentry_changelist"),
        reverse("admin:partners_auditlogentry_changelist") + "?q=sign",
        reverse("admin:collision_collisionresult_changelist"),
        reverse("admin:pushes_push_changelist"),
    ]
    urls += [
        reverse("admin:partners_auditlogentry_change", args=[pk])
        for pk in AuditLogEntry.objects.values_list("pk", flat=True)
    ]
    for url in urls:
        response = admin_client.get(url)
        assert response.status_code == 200, url
        assert_no_keys(response.content.decode())
    detail = admin_client.get(urls[-1]).content.decode()
    assert "请求体（打码）" in detail  # the detail page really shows the request


def partner_form_data(partner: Partner, **changes) -> dict:
    """The partner change form as the browser posts it, the key left blank."""
    data = {
        "name": partner.name,
        "slug": partner.slug,
        "environment": partner.environment,
        "test_base_url": partner.test_base_url,
        "production_base_url": partner.production_base_url,
        "test_push_url": partner.test_push_url,
        "utm_source": partner.utm_source,
        "test_client_id": partner.test_client_id,
        "test_secret_key": "",
        "collision_protocol": partner.collision_protocol,
        "push_protocol": partner.push_protocol,
        "connect_timeout": partner.connect_timeout,
        "read_timeout": partner.read_timeout,
        "max_concurrency": partner.max_concurrency,
        "max_requests_per_second": partner.max_requests_per_second,
        "failure_threshold": partner.failure_threshold,
        "_save": "保存",
    }
    for flag in ("is_active", "receives_pushes", "push_data_as_string", "push_integers_as_strings"):
        if getattr(partner, flag):
            data[flag] = "on"
    return {**data, **changes}


def secret_key_input(html: str) -> str:
    tags = re.findall(r'<input[^>]*name="test_secret_key"[^>]*>', html)
    assert len(tags) == 1, tags
    return tags[0]


def test_partner_change_form_never_renders_the_key(admin_client, partner):
    """The key field is a password input without a value."""
    response = admin_client.get(reverse("admin:partners_partner_change", args=[partner.pk]))

    html = response.content.decode()
    tag = secret_key_input(html)
    assert 'type="password"' in tag and "value=" not in tag
    assert PARTNER_KEY not in html


def test_saving_with_blank_key_keeps_it_and_a_new_key_replaces_it(admin_client, partner):
    """Blank means 'unchanged'; a typed key replaces the old one and is not shown back."""
    url = reverse("admin:partners_partner_change", args=[partner.pk])

    response = admin_client.post(url, partner_form_data(partner, name="沙箱平台二"))
    assert response.status_code == 302, response.content.decode()
    partner.refresh_from_db()
    assert partner.name == "沙箱平台二"
    assert partner.secret_key == PARTNER_KEY

    response = admin_client.post(
        url, partner_form_data(partner, test_secret_key=NEW_KEY), follow=True
    )
    assert response.status_code == 200
    assert NEW_KEY not in response.content.decode()
    partner.refresh_from_db()
    assert partner.secret_key == NEW_KEY


def test_invalid_partner_form_does_not_echo_the_typed_key(admin_client, partner):
    """A form shown again with errors keeps the key field empty, and nothing is saved."""
    url = reverse("admin:partners_partner_change", args=[partner.pk])
    data = partner_form_data(partner, test_secret_key=NEW_KEY, test_base_url="not a url")

    response = admin_client.post(url, data)

    assert response.status_code == 200
    html = response.content.decode()
    assert "errornote" in html
    assert NEW_KEY not in html
    assert "value=" not in secret_key_input(html)
    partner.refresh_from_db()
    assert partner.secret_key == PARTNER_KEY


def test_error_report_of_a_partner_save_hides_the_typed_key(admin_client, partner):
    """A crash while saving a partner must not put the typed key in Django's error report (the
    mail to ADMINS, the DEBUG 500 page): the admin marks it a sensitive POST parameter."""
    response = admin_client.post(
        reverse("admin:partners_partner_change", args=[partner.pk]),
        partner_form_data(partner, test_secret_key=NEW_KEY),
    )
    assert response.status_code == 302
    try:
        raise RuntimeError("the database went away while saving")
    except RuntimeError:
        report = ExceptionReporter(response.wsgi_request, *sys.exc_info(), is_email=True)
        text = report.get_traceback_text()
        html = report.get_traceback_html()
    assert "secret_key" in text  # the POST section is there
    assert NEW_KEY not in text
    assert NEW_KEY not in html


# -- personal data at rest -----------------------------------------------------------------------


def all_cells() -> list[tuple[str, str]]:
    """(table, cell as text) for every cell of every table, read raw."""
    cells = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for row in cursor.fetchall():
                cells += [(table, str(value)) for value in row if value is not None]
    return cells


def encrypted_cells(model) -> dict[int, list[str]]:
    """The raw, non-blank values of ``model``'s encrypted columns, by primary key (the phone
    column, or whatever column seals it)."""
    columns = [f.column for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
    assert columns, f"{model.__name__} has no encrypted column"
    quote = connection.ops.quote_name
    select = ", ".join(quote(column) for column in ["id", *columns])
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {select} FROM {quote(model._meta.db_table)}")  # noqa: S608
        return {pk: [value for value in values if value] for pk, *values in cursor.fetchall()}


def test_no_plain_pii_or_unkeyed_hash_anywhere_in_the_database(
    admin_client, partner, sandbox, make_leads, caplog
):
    """After check (batch and single), push, and exports of a search by phone and by ID number,
    then checks and pushes against a partner that echoes the person back (name, phone and ID
    number in its msg, the phone's MD5 in its link), no table holds a plain value, an MD5 or a
    prefix of one, and no log line either."""
    caplog.set_level(logging.INFO)
    leads = make_leads(30)
    everyone = Lead.objects.order_by("pk")
    check_leads(partner=partner, leads=everyone)
    check_leads(partner=partner, leads=everyone[:1])
    pushed = push_leads(partner=partner, leads=everyone)
    assert pushed.accepted > 0
    export = reverse("admin:leads_lead_export")
    for term in (leads[0].phone, leads[1].id_number):
        response = admin_client.post(export, {"file_format": "csv"}, query_params={"q": term})
        assert response.status_code == 200
    assert ExportRecord.objects.count() == 2
    assert CollisionResult.objects.filter(outcome=CheckOutcome.ANSWERED).count() == 31

    echoed = make_leads(30)
    echoed_leads = Lead.objects.filter(pk__in=[lead.pk for lead in echoed])
    partner.failure_threshold = 1000  # its "processing" answers count as failures: no pause
    partner.save()
    sandbox.inject(Fault.ECHO)
    check_leads(partner=partner, leads=echoed_leads)
    check_leads(partner=partner, leads=echoed_leads[:1])
    echo = push_leads(partner=partner, leads=echoed_leads)
    assert echo.accepted and echo.rejected and echo.unknown  # every kind of echoing answer
    partner.refresh_from_db()
    assert "处理中" in partner.last_error  # a failure quoting the person reached last_error
    leads += echoed

    secrets = {}
    for lead in leads:
        for field in ("phone", "id_number", "name", "wechat", "address"):
            secrets[getattr(lead, field)] = f"lead {lead.pk} {field}"
        secrets[lead.emergency_contact_phone] = f"lead {lead.pk} emergency phone"
        secrets[lead.emergency_contact_name] = f"lead {lead.pk} emergency name"
        secrets[phone_md5(lead.phone)] = f"lead {lead.pk} phone MD5"
        secrets[phone_md5(lead.phone)[:12]] = f"lead {lead.pk} phone MD5 prefix"
        secrets[id_number_md5(lead.id_number)] = f"lead {lead.pk} ID number MD5"
    secrets[PARTNER_KEY] = "partner key"
    for text in [caplog.text, *echo.errors]:  # log lines, and the summary shown after a push
        for secret, what in secrets.items():
            assert secret.lower() not in text.lower(), f"{what} found in {text!r}"

    cells = all_cells()
    tables = {table for table, _ in cells}
    assert {"leads_lead", "partners_auditlogentry", "pushes_push", "partners_partner"} <= tables
    for table, cell in cells:
        text = cell.lower()
        for secret, what in secrets.items():
            assert secret.lower() not in text, f"{what} found in {table}"

    rows = encrypted_cells(Lead)
    assert len(rows) == len(leads) == 60
    assert all(token.startswith("gAAAAA") for tokens in rows.values() for token in tokens)
    for lead in leads:  # the phone is there, inside a Fernet token
        assert any(lead.phone in decrypt(token) for token in rows[lead.pk])
    answers = [decrypt(token) for tokens in encrypted_cells(Push).values() for token in tokens]
    assert any(lead.name in answer for lead in echoed for answer in answers)  # sealed, not lost


def test_partner_answers_are_masked_on_screens_and_exports_without_the_pii_permission(
    partner, sandbox, make_leads
):
    """A partner echoing the person back: its message and link are shown and exported masked to
    a user without leads.view_lead_pii (push list and pages, the lead's timeline, the export),
    in full to one who holds it."""
    from tests.test_admin import staff_client

    leads = make_leads(12)
    everyone = Lead.objects.filter(pk__in=[lead.pk for lead in leads])
    check_leads(partner=partner, leads=everyone)
    sandbox.inject(Fault.ECHO)
    push_leads(partner=partner, leads=everyone)
    pushes = list(Push.objects.select_related("lead"))
    assert {push.state for push in pushes} >= {PushState.ACCEPTED, PushState.REJECTED}
    links = [push.app_download_url for push in pushes if push.app_download_url]
    assert links and all(
        phone_md5(push.lead.phone) in push.app_download_url
        for push in pushes
        if push.app_download_url
    )
    rights = ("pushes.view_push", "leads.view_lead", "pushes.export_push")

    def everything_shown(client, **export) -> str:
        urls = [reverse("admin:pushes_push_changelist")]
        urls += [reverse("admin:pushes_push_change", args=[push.pk]) for push in pushes]
        urls += [reverse("admin:leads_lead_change", args=[push.lead_id]) for push in pushes]
        pages = []
        for url in urls:
            response = client.get(url)
            assert response.status_code == 200, url
            pages.append(response.content.decode())
        exported = client.post(
            reverse("admin:pushes_push_export"), {"file_format": "csv", **export}
        )
        assert exported.status_code == 200
        return "\n".join([*pages, exported.content.decode("utf-8-sig")])

    masked = everything_shown(staff_client(*rights))
    for push in pushes:
        lead = push.lead
        for value in (lead.name, lead.phone, lead.id_number, phone_md5(lead.phone)[:12]):
            assert value not in masked
        assert push.masked_message() in masked  # shown, masked
    assert "推送成功：" in masked and "/h5/" in masked

    full_rights = (*rights, "leads.view_lead_pii", "leads.export_lead_pii")
    full = everything_shown(staff_client(*full_rights), unmasked="on")
    for push in pushes:
        assert push.message in full
    assert all(link in full for link in links)


def test_wrong_or_missing_encryption_key_fails_loudly(partner, make_leads):
    """Another key cannot open the rows: an error, never garbage or empty values."""
    lead = make_leads(1)[0]
    with override_settings(FIELD_ENCRYPTION_KEYS=[Fernet.generate_key().decode()]):
        with pytest.raises(DecryptionError):
            Lead.objects.get(pk=lead.pk)
        with pytest.raises(DecryptionError):
            Partner.objects.get(pk=partner.pk)
    with override_settings(FIELD_ENCRYPTION_KEYS=[]), pytest.raises(ImproperlyConfigured):
        Lead.objects.get(pk=lead.pk)
    assert Lead.objects.get(pk=lead.pk).phone == lead.phone  # the right key still works


def test_key_rotation_keeps_old_rows_readable(make_leads):
    """With [new, old] old rows decrypt and new rows use the new key; rotating re-encrypts."""
    old_key = settings.FIELD_ENCRYPTION_KEYS[0]
    new_key = Fernet.generate_key().decode()
    old_lead = make_leads(1)[0]

    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key, old_key]):
        loaded = Lead.objects.get(pk=old_lead.pk)
        assert (loaded.phone, loaded.id_number, loaded.name) == (
            old_lead.phone,
            old_lead.id_number,
            old_lead.name,
        )
        new_lead = make_leads(1)[0]
        rotated = [reencrypt(token) for token in encrypted_cells(Lead)[old_lead.pk]]

    with override_settings(FIELD_ENCRYPTION_KEYS=[new_key]):
        assert Lead.objects.get(pk=new_lead.pk).phone == new_lead.phone  # new key
        with pytest.raises(DecryptionError):
            Lead.objects.get(pk=old_lead.pk)  # still under the old key until rotated
        opened = [Fernet(new_key).decrypt(token.encode()).decode() for token in rotated]
        assert any(old_lead.phone in text for text in opened)  # re-encrypted under the new key


def test_signing_key_hides_itself_in_reprs_but_signs_as_usual():
    """Tracebacks and error reports print locals with repr(): the key must not show there."""
    key = SecretKey(PARTNER_KEY)
    assert PARTNER_KEY not in repr(key) and PARTNER_KEY not in repr({"key": key})
    assert collision_sign({"utmSource": "x"}, key) == collision_sign(
        {"utmSource": "x"}, PARTNER_KEY
    )
