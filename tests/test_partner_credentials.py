"""Each environment of a partner has its own push URL, clientId and key (issue 13, finding 7):
switching the environment switches where pushes go and how every call is signed."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.urls import reverse

from partners.forms import PartnerForm
from partners.models import Environment, Partner
from tests.conftest import PARTNER_KEY

TEST_PUSH = "http://127.0.0.1:1/test/push"
LIVE_PUSH = "https://partner.example.com/push"


def two_environment_partner(**changes) -> Partner:
    fields = {
        "name": "双环境平台",
        "slug": "both",
        "utm_source": "both_src",
        "test_base_url": "http://127.0.0.1:1",
        "test_push_url": TEST_PUSH,
        "test_client_id": "TEST_CLIENT",
        "test_secret_key": "test-key",
        "production_base_url": "https://partner.example.com",
        "production_push_url": LIVE_PUSH,
        "production_client_id": "LIVE_CLIENT",
        "production_secret_key": "live-key",
    }
    return Partner.objects.create(**{**fields, **changes})


def test_switching_the_environment_switches_every_credential(db):
    partner = two_environment_partner()
    assert (partner.base_url, partner.push_url, partner.client_id, str(partner.signing_key)) == (
        "http://127.0.0.1:1",
        TEST_PUSH,
        "TEST_CLIENT",
        "test-key",
    )

    partner.environment = Environment.PRODUCTION
    partner.full_clean()
    partner.save()
    partner = Partner.objects.get(pk=partner.pk)

    assert (partner.base_url, partner.push_url, partner.client_id, str(partner.signing_key)) == (
        "https://partner.example.com",
        LIVE_PUSH,
        "LIVE_CLIENT",
        "live-key",
    )


def test_the_old_keywords_write_the_active_environment(db):
    """Partner(push_url=..., client_id=..., secret_key=...) still builds a partner: the values
    land in the environment it is created in."""
    partner = Partner.objects.create(
        name="生产",
        slug="live",
        environment=Environment.PRODUCTION,
        utm_source="x",
        test_base_url="http://127.0.0.1:1",
        production_base_url="https://partner.example.com",
        push_url=LIVE_PUSH,
        client_id="LIVE_CLIENT",
        secret_key="live-key",
    )
    partner.refresh_from_db()
    assert (partner.production_push_url, partner.production_client_id) == (LIVE_PUSH, "LIVE_CLIENT")
    assert partner.production_secret_key == "live-key"
    assert (partner.test_push_url, partner.test_client_id, partner.test_secret_key) == ("", "", "")


def test_the_client_id_is_not_prefilled(db):
    partner = Partner(name="新", slug="new", utm_source="x", test_base_url="http://127.0.0.1:1")
    assert (partner.test_client_id, partner.production_client_id) == ("", "")
    assert 'value="THIRDPARTY_QUNADAI"' not in str(PartnerForm()["test_client_id"])


def test_a_pushing_partner_needs_the_active_push_url_and_client_id(db):
    partner = two_environment_partner(production_push_url="", production_client_id="")
    partner.full_clean()  # the test environment has both

    partner.environment = Environment.PRODUCTION
    with pytest.raises(ValidationError) as invalid:
        partner.full_clean()
    assert invalid.value.message_dict["production_push_url"] == [
        "接收推送的合作平台必须填写当前环境（生产环境）的推送地址"
    ]
    assert invalid.value.message_dict["production_client_id"] == [
        "接收推送的合作平台必须填写当前环境（生产环境）的 clientId"
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        partner.save()

    partner.receives_pushes = False  # a partner we only check against
    partner.full_clean()
    partner.save()
    assert partner.push_url == ""  # so nothing is ever pushed to it


def test_the_active_environment_needs_its_key(db):
    partner = two_environment_partner(production_secret_key="")
    partner.environment = Environment.PRODUCTION
    with pytest.raises(ValidationError) as invalid:
        partner.full_clean()
    assert invalid.value.message_dict["production_secret_key"] == [
        "当前环境（生产环境）必须填写签名密钥"
    ]
    with pytest.raises(IntegrityError), transaction.atomic():
        partner.save()


# -- the admin form ------------------------------------------------------------------------------


def form_data(**changes) -> dict:
    data = {
        "name": "新平台",
        "slug": "fresh",
        "is_active": "on",
        "environment": Environment.TEST,
        "receives_pushes": "on",
        "utm_source": "fresh_src",
        "test_base_url": "http://127.0.0.1:1",
        "test_push_url": TEST_PUSH,
        "test_client_id": "TEST_CLIENT",
        "test_secret_key": "typed-test-key",
        "production_base_url": "",
        "production_push_url": "",
        "production_client_id": "",
        "production_secret_key": "",
        "collision_protocol": "yrxd_collision_v1",
        "push_protocol": "qunadai_push_v1",
        "push_data_as_string": "on",
        "push_integers_as_strings": "on",
        "connect_timeout": "3",
        "read_timeout": "10",
        "max_concurrency": "4",
        "max_requests_per_second": "20",
        "failure_threshold": "10",
    }
    return {**data, **changes}


def test_a_new_partner_without_a_client_id_is_told_why_in_chinese(db):
    form = PartnerForm(data=form_data(test_client_id=""))
    assert not form.is_valid()
    assert form.errors["test_client_id"] == [
        "接收推送的合作平台必须填写当前环境（测试环境）的 clientId"
    ]
    assert PartnerForm(data=form_data(test_client_id="", receives_pushes="")).is_valid()


def test_a_new_partner_without_a_key_is_told_why(db):
    form = PartnerForm(data=form_data(test_secret_key=""))
    assert not form.is_valid()
    assert form.errors["test_secret_key"] == ["当前环境（测试环境）必须填写签名密钥"]


def test_switching_to_production_asks_for_productions_own_settings(db):
    partner = two_environment_partner(
        production_push_url="", production_client_id="", production_secret_key=""
    )
    data = form_data(slug="both", environment=Environment.PRODUCTION, test_secret_key="")
    data["production_base_url"] = "https://partner.example.com"
    form = PartnerForm(data=data, instance=partner)
    assert not form.is_valid()
    assert set(form.errors) == {
        "production_push_url",
        "production_client_id",
        "production_secret_key",
    }

    data.update(
        production_push_url=LIVE_PUSH,
        production_client_id="LIVE_CLIENT",
        production_secret_key="typed-live-key",
    )
    form = PartnerForm(data=data, instance=Partner.objects.get(pk=partner.pk))
    assert form.is_valid(), form.errors
    form.save()
    partner = Partner.objects.get(pk=partner.pk)
    assert partner.production_secret_key == "typed-live-key"
    assert partner.production_secret_key_changed_at is not None
    assert partner.test_secret_key == "test-key"  # the other environment's key is left alone
    assert partner.test_secret_key_changed_at is None
    assert (partner.push_url, partner.client_id) == (LIVE_PUSH, "LIVE_CLIENT")


def test_the_change_page_groups_settings_by_environment_and_shows_no_key(admin_client, partner):
    partner.production_secret_key = "live-key-never-shown"
    partner.save()
    page = admin_client.get(reverse("admin:partners_partner_change", args=[partner.pk]))
    html = page.content.decode()

    headings = re.findall(r"<h2[^>]*>([^<]+)</h2>", html)
    assert "测试环境" in headings and "生产环境" in headings
    for name in ("test_secret_key", "production_secret_key"):
        (tag,) = re.findall(rf'<input[^>]*name="{name}"[^>]*>', html)
        assert 'type="password"' in tag and "value=" not in tag
    assert PARTNER_KEY not in html and "live-key-never-shown" not in html
    assert html.count("已设置") >= 2  # each environment's key state, not the key


# -- the migration -------------------------------------------------------------------------------

BEFORE = [("partners", "0007_mask_kept_partner_text")]
AFTER = [("partners", "0008_credentials_per_environment")]


@pytest.mark.django_db(transaction=True)
def test_the_migration_gives_the_old_credentials_to_the_current_environment():
    executor = MigrationExecutor(connection)
    latest = executor.loader.graph.leaf_nodes()
    try:
        executor.migrate(BEFORE)
        OldPartner = executor.loader.project_state(BEFORE).apps.get_model("partners", "Partner")
        common = {"utm_source": "x", "test_base_url": "http://127.0.0.1:1"}
        OldPartner.objects.create(
            name="生产",
            slug="live",
            environment="production",
            production_base_url="https://partner.example.com",
            push_url=LIVE_PUSH,
            client_id="LIVE_CLIENT",
            secret_key="live-key",
            **common,
        )
        OldPartner.objects.create(
            name="测试", slug="test", push_url=TEST_PUSH, secret_key="test-key", **common
        )
        OldPartner.objects.create(name="只撞库", slug="check-only", secret_key="k", **common)

        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        New = executor.loader.project_state(AFTER).apps.get_model("partners", "Partner")
        live, test, check_only = (New.objects.get(slug=s) for s in ("live", "test", "check-only"))

        assert (live.production_push_url, live.production_client_id) == (LIVE_PUSH, "LIVE_CLIENT")
        assert live.production_secret_key == "live-key"
        assert (live.test_push_url, live.test_client_id, live.test_secret_key) == ("", "", "")
        assert live.receives_pushes
        assert (test.test_push_url, test.test_client_id, test.test_secret_key) == (
            TEST_PUSH,
            "THIRDPARTY_QUNADAI",  # the old prefilled value was the one in use: kept
            "test-key",
        )
        assert test.production_secret_key == ""
        assert not check_only.receives_pushes  # it had no push URL: it never took pushes

        executor = MigrationExecutor(connection)
        executor.migrate(BEFORE)  # and back
        Old = executor.loader.project_state(BEFORE).apps.get_model("partners", "Partner")
        back = Old.objects.get(slug="live")
        assert (back.push_url, back.client_id, back.secret_key) == (
            LIVE_PUSH,
            "LIVE_CLIENT",
            "live-key",
        )
    finally:
        MigrationExecutor(connection).migrate(latest)
