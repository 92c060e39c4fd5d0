"""Finding 7: no log line the app or its server writes holds a full phone or ID number. A search
puts the number into the request line (and the next request's Referer, and a login redirect's
?next=): runserver's and gunicorn's access logs, Django's request log and tracebacks show it
masked, however it was typed."""

import io
import logging
import re
import time
import unicodedata
from urllib.parse import quote, quote_plus, unquote_plus

import pytest

from core.logging import MaskIdentifiers
from core.masking import mask_identifiers
from tests.servers import free_port, gunicorn, runserver, server_env

PHONE = "13745678901"
ID_NUMBER = "11010519491231002X"  # a valid GB 11643 number (check digit X)
FULL_WIDTH = str.maketrans("0123456789X", "０１２３４５６７８９Ｘ")

# Every form the admin's search accepts (tests/test_admin.py), as a person would type it.
TYPED = {
    "phone": PHONE,
    "phone +86 spaced": f"+86 {PHONE[:3]} {PHONE[3:7]} {PHONE[7:]}",
    "phone 0086-": f"0086-{PHONE}",
    "phone 86": f"86{PHONE}",
    "phone dashed": f"{PHONE[:3]}-{PHONE[3:7]}-{PHONE[7:]}",
    "phone full-width": PHONE.translate(FULL_WIDTH),
    "id number": ID_NUMBER,
    "id number lower-case x": ID_NUMBER.lower(),
    "id number full-width": ID_NUMBER.translate(FULL_WIDTH),
    "id number spaced": f"{ID_NUMBER[:6]} {ID_NUMBER[6:14]} {ID_NUMBER[14:]}",
}
MASKED = {"phone": "137****8901", "id number": "110105**********2X"}


def masked_form(name: str) -> str:
    return MASKED["phone" if name.startswith("phone") else "id number"]


def leaks(text: str) -> list[str]:
    """The full identifiers in ``text``, after undoing what a log line may do to them: percent
    encoding (twice), "+" for a blank, full-width digits, blanks and hyphens between digits."""
    plain = unquote_plus(unquote_plus(text))
    plain = unicodedata.normalize("NFKC", plain).upper()
    plain = re.sub(r"[\s\-]", "", plain)
    return [value for value in (PHONE, ID_NUMBER) if value in plain]


@pytest.mark.parametrize("name", TYPED)
@pytest.mark.parametrize(
    "spelling",
    [
        pytest.param(lambda term: term, id="raw"),
        pytest.param(lambda term: quote_plus(term), id="query-string"),
        pytest.param(lambda term: quote(term, safe=""), id="percent-encoded"),
        pytest.param(
            lambda term: quote(f"/admin/leads/lead/?q={quote_plus(term)}", safe=""),
            id="login-next",
        ),
    ],
)
def test_every_spelling_of_an_identifier_is_masked(name, spelling):
    line = f'"GET /admin/leads/lead/?q={spelling(TYPED[name])}&o=1 HTTP/1.1" 200 4512'
    masked = mask_identifiers(line)
    assert leaks(masked) == [], masked
    assert masked_form(name) in masked
    assert masked.startswith('"GET /admin/leads/lead/?q=') and masked.endswith(
        ' HTTP/1.1" 200 4512'
    )


@pytest.mark.parametrize(
    "line",
    [
        '127.0.0.1 - - [01/Dec/2026:13:45:12 +0800] "GET /admin/ HTTP/1.1" 200 13812',
        "Mozilla/5.0 (X11; Linux x86_64) Chrome/140.0.7339.185 Safari/537.36",
        "2026-12-01 13:45:12,345 INFO jobs.janitor requeued job(s) [12, 13]",
        "job 1733000000000 took 123456789012 µs",  # 13 and 12 digits: neither a phone nor an ID
        "GET /admin/leads/lead/?q=张三 HTTP/1.1",
    ],
)
def test_lines_without_identifiers_stay_as_they_are(line):
    assert mask_identifiers(line) == line


def test_filter_masks_the_message_its_arguments_and_the_traceback():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(MaskIdentifiers())
    logger = logging.getLogger("tests.masking")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("search %s by %s", f"q={PHONE}", {"id": ID_NUMBER})
        try:
            raise ValueError(f"bad phone {PHONE}")
        except ValueError:
            logger.exception("failed for %s", ID_NUMBER.lower())
    finally:
        logger.removeHandler(handler)
    text = stream.getvalue()
    assert leaks(text) == [], text
    assert text.count("137****8901") == 2 and text.count("110105**********2X") == 2
    assert "Traceback" in text and "ValueError: bad phone 137****8901" in text


@pytest.mark.django_db
def test_django_request_log_masks_the_path(client):
    """A 404 is logged by django.request with the path; the handler it reaches masks it."""
    handler = next(h for h in logging.getLogger("django").handlers if h.name == "console")
    stream = io.StringIO()
    previous = handler.setStream(stream)
    try:
        response = client.get(f"/no-such-page/{PHONE}/{ID_NUMBER.lower()}/")
    finally:
        handler.setStream(previous)
    assert response.status_code == 404
    text = stream.getvalue()
    assert "Not Found: /no-such-page/137****8901/110105**********2X/" in text, text
    assert leaks(text) == [], text


def search_requests(server, term: str) -> None:
    """A phone search (redirected to the login page, which keeps it in ?next=), and the next
    page's request carrying it in its Referer."""
    status, _ = server.get(f"/admin/leads/lead/?q={quote_plus(term)}")
    assert status == 200  # the login page, after the redirect
    server.get("/admin/", Referer=f"{server.url}/admin/leads/lead/?q={quote_plus(term)}")


@pytest.mark.django_db(transaction=True)
def test_runserver_request_lines_are_masked(tmp_path):
    """`make run`'s server (runserver, the django.server logger) logs request lines masked."""
    port = free_port()
    with runserver(port, server_env(), tmp_path / "runserver.log") as server:
        for term in (PHONE, TYPED["phone +86 spaced"], ID_NUMBER.lower()):
            search_requests(server, term)
        server.get("/healthz")  # the last line: everything before it is written
        time.sleep(0.3)
    log = server.output()
    assert "GET /admin/leads/lead/?q=137****8901 HTTP/1.1" in log, log
    assert "q%3D110105**********2X" in log  # the login redirect's ?next=
    assert leaks(log) == [], log


@pytest.mark.django_db(transaction=True)
def test_gunicorn_access_log_is_masked(tmp_path):
    """The deployed server (gunicorn with config/gunicorn.py): its access log, with the request
    line and the Referer, holds the masked numbers only."""
    port = free_port()
    with gunicorn(port, server_env(), tmp_path / "gunicorn.log") as server:
        for term in (PHONE, TYPED["phone full-width"], TYPED["id number spaced"]):
            search_requests(server, term)
        server.get("/healthz")
        time.sleep(0.3)
    log = server.output()
    access = [line for line in log.splitlines() if '"GET /admin/' in line]
    assert len(access) >= 9, log  # three searches, their login pages, the pages they led to
    assert any('"GET /admin/leads/lead/?q=137****8901 HTTP/1.1" 302' in line for line in access)
    assert any(f'"{server.url}/admin/leads/lead/?q=110105**********2X"' in line for line in access)
    assert leaks(log) == [], log
