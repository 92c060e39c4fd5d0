"""Playwright driving Debian's Chromium (never a downloaded browser) for the admin's browser tests."""

import os
import shutil
from contextlib import contextmanager

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

# ORM calls inside the sync_playwright() block run in the event loop's thread.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

requires_chromium = pytest.mark.skipif(
    not os.path.exists(CHROMIUM),
    reason="Debian's chromium is not installed (apt-get install chromium)",
)


@contextmanager
def browser_page():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = browser.new_page(locale="zh-CN", viewport={"width": 1400, "height": 1000})
            page.set_default_timeout(15_000)
            yield page
        finally:
            browser.close()
            # ORM calls in this block got a connection of their own (Django's connections are
            # per async context, and the event loop's is not the test's): close it here, or
            # PostgreSQL refuses to drop the test database at the end of the run.
            from django.db import connections

            connections.close_all()


def operator_user(username: str = "operator", password: str = "correct-horse-battery"):
    """A member of the 运营 operator group (core.roles), no superuser and no permission of its
    own: the browser tests see what an operator sees and may do only what an operator may."""
    from django.contrib.auth.models import Group, User

    from core.roles import ROLES

    user = User.objects.create_user(username, password=password, is_staff=True)
    user.groups.add(Group.objects.get(name=next(iter(ROLES))))
    return user


def log_in(page, base_url: str, username: str, password: str) -> None:
    """The password, then the authenticator's code if the user has one. A user who must have one
    (core.two_factor) and has none is given one first, as if set up earlier: the test starts in
    the admin, not on the setup page."""
    from django.contrib.auth.models import User
    from two_factor.utils import default_device

    from core.two_factor import two_factor_required
    from tests.conftest import totp_code, totp_device

    user = User.objects.get(username=username)
    device = default_device(user) or (totp_device(user) if two_factor_required(user) else None)
    page.goto(f"{base_url}/admin/login/")
    page.fill("#id_auth-username", username)
    page.fill("#id_auth-password", password)
    page.click("#login-form input[type=submit]")
    if device:
        page.fill("#id_token-otp_token", totp_code(device))
        page.click("#login-form input[type=submit]")
    page.wait_for_selector("#user-tools")
