"""Revenue in the daily counts (DailyCount.amount, kind "revenue": accepted pushes by the day
they were settled, with their price) and the statements' permission. The triggers are installed
again and every count recomputed with the current code (reporting.counts), as 0002 did: the
triggers of 0002 wrote no amount."""

from django.db import migrations, models


def install(apps, schema_editor):
    from reporting import counts

    counts.rebuild(schema_editor.connection)


def uninstall(apps, schema_editor):
    from reporting import counts

    counts.uninstall(schema_editor.connection)


class Migration(migrations.Migration):

    dependencies = [
        ('reporting', '0002_count_triggers'),
        # The counted tables as they are now (their price, the push's finished_at).
        ('leads', '0013_lead_batch_id_index'),
        ('collision', '0003_result_partner_time_index'),
        ('pushes', '0008_push_price_exclusive'),
        ('partners', '0011_audit_actor_name_index'),
    ]

    operations = [
        migrations.CreateModel(
            name='Statement',
            fields=[
            ],
            options={
                'verbose_name': '对账单',
                'verbose_name_plural': '对账单',
                'permissions': [('view_statement', '可查看和导出对账单')],
                'proxy': True,
                'default_permissions': (),
                'indexes': [],
                'constraints': [],
            },
            bases=('reporting.dailycount',),
        ),
        migrations.AddField(
            model_name='dailycount',
            name='amount',
            field=models.DecimalField(decimal_places=2, default=0, max_digits=16, verbose_name='金额（元）'),
        ),
        migrations.AlterField(
            model_name='dailycount',
            name='kind',
            field=models.CharField(choices=[('lead', '导入'), ('check', '撞库'), ('push', '推送'), ('revenue', '收入')], max_length=8, verbose_name='类别'),
        ),
        migrations.RunPython(install, uninstall),
    ]
