"""The check-result and push export permissions moved from leads.ExportRecord to the models they
export. Whoever held the old ones (a user or a group) holds the new ones, and the old ones go, so
that the permission list names each right once."""

from django.db import migrations

MOVED = [
    # (old app, old model, new app, new model, codename, name)
    (
        "leads",
        "exportrecord",
        "collision",
        "collisionresult",
        "export_collisionresult",
        "可导出撞库结果",
    ),
    ("leads", "exportrecord", "pushes", "push", "export_push", "可导出推送记录"),
]


def move_grants(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    for old_app, old_model, new_app, new_model, codename, name in MOVED:
        old = Permission.objects.filter(
            content_type__app_label=old_app, content_type__model=old_model, codename=codename
        ).first()
        if old is None:  # a fresh database: post_migrate creates the new one
            continue
        content_type, _ = ContentType.objects.get_or_create(app_label=new_app, model=new_model)
        new, _ = Permission.objects.get_or_create(
            content_type=content_type, codename=codename, defaults={"name": name}
        )
        for user in old.user_set.all():
            user.user_permissions.add(new)
        for group in old.group_set.all():
            group.permissions.add(new)
        old.delete()


class Migration(migrations.Migration):
    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("collision", "0002_export_permission"),
        ("leads", "0006_export_permissions_leave_export_records"),
        ("pushes", "0004_export_permission"),
    ]

    operations = [migrations.RunPython(move_grants, migrations.RunPython.noop)]
