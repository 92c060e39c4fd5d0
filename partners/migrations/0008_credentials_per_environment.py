"""Each environment gets its own push URL, clientId and secret key (issue 13, finding 7).

Until now a partner had one push URL, one clientId and one key for both environments, used
whichever environment was active: they are the credentials the partner's *current* environment
works with (a production partner pushed to that URL, signed with that key, and got answers).
So they become that environment's values, and the other environment's stay blank. Copying them
to both would carry on the very bug being fixed: a switch of environment would keep pushing to
the old URL with the old key. A blank other environment cannot be used by mistake: switching to
it asks for its key, and for its push URL and clientId when the partner takes pushes.

A partner without a push URL or clientId took no pushes (pushing refused it): it is kept as a
partner that does not receive pushes, so the new constraint holds for every existing row. The
clientId is no longer prefilled with the spec's example (THIRDPARTY_QUNADAI): existing values
are kept as they were.

Reversible: going back copies the active environment's values into the single fields (the
other environment's are lost, as the old schema has nowhere to keep them).
"""

import core.crypto
from django.db import migrations, models


def copy_to_active_environment(apps, schema_editor):
    Partner = apps.get_model("partners", "Partner")
    for partner in Partner.objects.all():
        environment = partner.environment  # "test" or "production"
        setattr(partner, f"{environment}_push_url", partner.push_url)
        setattr(partner, f"{environment}_client_id", partner.client_id)
        setattr(partner, f"{environment}_secret_key", partner.secret_key)
        setattr(partner, f"{environment}_secret_key_changed_at", partner.secret_key_changed_at)
        partner.receives_pushes = bool(partner.push_url and partner.client_id)
        partner.save()


def copy_back_from_active_environment(apps, schema_editor):
    Partner = apps.get_model("partners", "Partner")
    for partner in Partner.objects.all():
        environment = partner.environment
        partner.push_url = getattr(partner, f"{environment}_push_url")
        partner.client_id = getattr(partner, f"{environment}_client_id")
        partner.secret_key = getattr(partner, f"{environment}_secret_key")
        partner.secret_key_changed_at = getattr(partner, f"{environment}_secret_key_changed_at")
        partner.save()


class Migration(migrations.Migration):
    dependencies = [
        ("partners", "0007_mask_kept_partner_text"),
    ]

    operations = [
        # Blank allowed for a moment, so that going back can re-add the column to existing rows.
        migrations.AlterField(
            model_name="partner",
            name="secret_key",
            field=core.crypto.EncryptedTextField(blank=True, default="", verbose_name="签名密钥"),
        ),
        migrations.AddField(
            model_name="partner",
            name="production_client_id",
            field=models.CharField(
                blank=True,
                default="",
                help_text="合作平台分配的 clientId（规范示例为 THIRDPARTY_QUNADAI）",
                max_length=64,
                verbose_name="生产环境推送 clientId",
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="production_push_url",
            field=models.URLField(
                blank=True,
                default="",
                help_text="合作平台提供的用户推送完整 URL",
                verbose_name="生产环境推送地址",
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="production_secret_key",
            field=core.crypto.EncryptedTextField(
                blank=True, default="", verbose_name="生产环境签名密钥"
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="production_secret_key_changed_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="生产环境密钥最近修改时间"
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="receives_pushes",
            field=models.BooleanField(
                default=True,
                help_text="只做撞库、不接收推送的合作平台取消勾选；勾选时当前环境必须有推送地址和 clientId",
                verbose_name="接收推送",
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="test_client_id",
            field=models.CharField(
                blank=True,
                default="",
                help_text="合作平台分配的 clientId（规范示例为 THIRDPARTY_QUNADAI）",
                max_length=64,
                verbose_name="测试环境推送 clientId",
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="test_push_url",
            field=models.URLField(
                blank=True,
                default="",
                help_text="合作平台提供的用户推送完整 URL",
                verbose_name="测试环境推送地址",
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="test_secret_key",
            field=core.crypto.EncryptedTextField(
                blank=True, default="", verbose_name="测试环境签名密钥"
            ),
        ),
        migrations.AddField(
            model_name="partner",
            name="test_secret_key_changed_at",
            field=models.DateTimeField(
                blank=True, editable=False, null=True, verbose_name="测试环境密钥最近修改时间"
            ),
        ),
        migrations.RunPython(copy_to_active_environment, copy_back_from_active_environment),
        migrations.RemoveField(
            model_name="partner",
            name="client_id",
        ),
        migrations.RemoveField(
            model_name="partner",
            name="push_url",
        ),
        migrations.RemoveField(
            model_name="partner",
            name="secret_key",
        ),
        migrations.RemoveField(
            model_name="partner",
            name="secret_key_changed_at",
        ),
        migrations.AddConstraint(
            model_name="partner",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(
                        ("environment", "test"), models.Q(("test_secret_key", ""), _negated=True)
                    ),
                    models.Q(
                        ("environment", "production"),
                        models.Q(("production_secret_key", ""), _negated=True),
                    ),
                    _connector="OR",
                ),
                name="partner_active_environment_has_key",
                violation_error_message="当前环境必须填写签名密钥",
            ),
        ),
        migrations.AddConstraint(
            model_name="partner",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    ("receives_pushes", False),
                    models.Q(
                        models.Q(
                            models.Q(
                                ("environment", "test"),
                                models.Q(("test_push_url", ""), _negated=True),
                            ),
                            models.Q(
                                ("environment", "production"),
                                models.Q(("production_push_url", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        models.Q(
                            models.Q(
                                ("environment", "test"),
                                models.Q(("test_client_id", ""), _negated=True),
                            ),
                            models.Q(
                                ("environment", "production"),
                                models.Q(("production_client_id", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                    ),
                    _connector="OR",
                ),
                name="partner_pushing_needs_url_and_client_id",
                violation_error_message="接收推送的合作平台在当前环境必须有推送地址和 clientId",
            ),
        ),
    ]
