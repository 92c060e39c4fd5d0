# Erasure on request and the personal-data access log (PIPL). A lead's blind indexes may be NULL:
# an erased lead keeps its row but nothing that finds or matches the person (a unique column
# allows any number of NULLs). The access log is append-only: on PostgreSQL it gets the audit
# log's trigger (partners 0006), which refuses any UPDATE or DELETE of a row, whoever asks.

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

TABLE = "leads_personaldataaccess"
INSTALL = f"""
CREATE TRIGGER leads_personal_data_access_append_only
    BEFORE UPDATE OR DELETE ON {TABLE}
    FOR EACH ROW EXECUTE FUNCTION partners_audit_log_append_only();
"""
REMOVE = f"DROP TRIGGER IF EXISTS leads_personal_data_access_append_only ON {TABLE};"


def _on_postgresql(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):

    dependencies = [
        ('leads', '0003_manage_all_importbatches'),
        ('partners', '0006_audit_append_only_trigger'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='lead',
            options={'ordering': ['-id'], 'permissions': [('view_lead_pii', '可查看线索的完整个人信息（不打码）'), ('check_lead', '可对线索撞库'), ('push_lead', '可向合作平台推送线索'), ('import_lead', '可导入线索'), ('export_lead', '可导出线索'), ('export_lead_pii', '导出时可包含完整个人信息（不打码，记入导出审计）'), ('erase_lead', '可依申请删除线索的个人信息')], 'verbose_name': '线索', 'verbose_name_plural': '线索'},
        ),
        migrations.AddField(
            model_name='lead',
            name='erased_at',
            field=models.DateTimeField(blank=True, db_index=True, editable=False, null=True, verbose_name='个人信息删除时间'),
        ),
        migrations.AlterField(
            model_name='lead',
            name='id_number_index',
            field=models.CharField(editable=False, max_length=64, null=True, unique=True),
        ),
        migrations.AlterField(
            model_name='lead',
            name='phone_index',
            field=models.CharField(editable=False, max_length=64, null=True, unique=True),
        ),
        migrations.CreateModel(
            name='PersonalDataAccess',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('created_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='时间')),
                ('actor_username', models.CharField(blank=True, default='', max_length=150, verbose_name='操作人用户名')),
                ('kind', models.CharField(choices=[('detail', '详情页'), ('list', '列表页'), ('export', '不打码导出'), ('rejected_rows', '下载导入被拒行'), ('erasure', '依申请删除')], db_index=True, max_length=16, verbose_name='类型')),
                ('page', models.CharField(blank=True, default='', max_length=500, verbose_name='页面')),
                ('lead_ids', models.TextField(blank=True, default='', verbose_name='线索ID')),
                ('row_count', models.PositiveIntegerField(default=0, verbose_name='条数')),
                ('criteria', models.TextField(blank=True, default='', verbose_name='筛选条件（打码）')),
                ('permission', models.CharField(blank=True, default='', max_length=100, verbose_name='依据的权限')),
                ('granted_via', models.CharField(blank=True, default='', max_length=255, verbose_name='授权来源')),
                ('note', models.TextField(blank=True, default='', verbose_name='说明')),
                ('actor', models.ForeignKey(blank=True, db_constraint=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='操作人')),
                ('export_record', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to='leads.exportrecord', verbose_name='导出记录')),
            ],
            options={
                'verbose_name': '个人信息查看记录',
                'verbose_name_plural': '个人信息查看记录',
                'ordering': ['-created_at', '-id'],
            },
        ),
        migrations.RunPython(_on_postgresql(INSTALL), _on_postgresql(REMOVE)),
    ]
