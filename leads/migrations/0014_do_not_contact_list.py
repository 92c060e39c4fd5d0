# The do-not-contact list (blind indexes only) and its removal record. The removal record is
# append-only: on PostgreSQL it gets the audit log's trigger (partners 0006), like the access log.

import django.db.models.deletion
import django.utils.timezone
import leads.models
from django.conf import settings
from django.db import migrations, models

TABLE = "leads_donotcontactremoval"
INSTALL = f"""
CREATE TRIGGER leads_do_not_contact_removal_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION partners_audit_log_append_only();
"""
REMOVE = f"DROP TRIGGER IF EXISTS leads_do_not_contact_removal_append_only ON {TABLE};"


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0013_lead_batch_id_index'),
        ('partners', '0006_audit_append_only_trigger'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='DoNotContactRemoval',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('actor_username', models.CharField(blank=True, default='', editable=False, max_length=150, verbose_name='操作人用户名')),
                ('removed_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='移除时间')),
                ('kind', models.CharField(choices=[('phone', '手机号'), ('id_number', '身份证号')], max_length=16, verbose_name='类型')),
                ('blind_index', models.CharField(db_index=True, max_length=64, verbose_name='索引')),
                ('reason', models.CharField(choices=[('requested', '本人要求'), ('complaint', '投诉'), ('converted', '已成交'), ('other', '其他')], max_length=16, verbose_name='原因')),
                ('added_at', models.DateTimeField(blank=True, null=True, verbose_name='添加时间')),
                ('why', models.TextField(verbose_name='移除理由')),
                ('actor', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='操作人')),
            ],
            options={
                'verbose_name': '免打扰移除记录',
                'verbose_name_plural': '免打扰移除记录',
                'ordering': ['-removed_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='DoNotContact',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('phone', '手机号'), ('id_number', '身份证号')], max_length=16, verbose_name='类型')),
                ('blind_index', models.CharField(editable=False, max_length=64, verbose_name='索引')),
                ('reason', models.CharField(choices=[('requested', '本人要求'), ('complaint', '投诉'), ('converted', '已成交'), ('other', '其他')], max_length=16, verbose_name='原因')),
                ('note', models.CharField(blank=True, default='', help_text='只写原因，不要写手机号、身份证号、姓名等个人信息', max_length=200, validators=[leads.models.validate_no_number], verbose_name='备注')),
                ('created_at', models.DateTimeField(auto_now_add=True, db_index=True, verbose_name='添加时间')),
                ('added_by', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='添加人')),
                ('lead', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='leads.lead', verbose_name='来自线索')),
            ],
            options={
                'verbose_name': '免打扰名单',
                'verbose_name_plural': '免打扰名单',
                'ordering': ['-created_at', '-id'],
                'constraints': [models.UniqueConstraint(fields=('kind', 'blind_index'), name='do_not_contact_unique')],
            },
        ),
        migrations.RunPython(_on_postgresql(INSTALL), _on_postgresql(REMOVE)),
    ]
