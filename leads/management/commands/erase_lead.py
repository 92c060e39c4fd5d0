import getpass

from django.core.management.base import BaseCommand, CommandError

from leads import erasure


class Command(BaseCommand):
    help = (
        "Erase a person's personal data on request (PIPL): their lead's personal data and blind "
        "indexes, their rows in import staging, partners' answers to their pushes. Check results, "
        "pushes, audit rows and counts stay, masked. Recorded in the personal-data access log."
    )

    def add_arguments(self, parser):
        who = parser.add_mutually_exclusive_group(required=True)
        who.add_argument("--phone", help="the person's mobile number")
        who.add_argument("--id-number", help="the person's ID number")
        parser.add_argument("--reason", default="", help="why (the request, a ticket number)")

    def handle(self, *args, phone, id_number, reason, **options):
        try:
            person = erasure.person_by_identifier(phone=phone or "", id_number=id_number or "")
            erasure.erase(
                [person],
                reason=reason,
                permission="",
                granted_via="命令行（服务器上的 manage.py）",
                actor_name=f"命令行：{_os_user()}",
                page="manage.py erase_lead",
            )
        except erasure.ErasureRefused as exc:
            raise CommandError(str(exc)) from None
        if not person.found:
            raise CommandError(
                f"没有找到{person.masked}的个人信息（线索或待处理的导入数据），未做任何修改。"
            )
        self.stdout.write(
            self.style.SUCCESS(f"已删除{person.masked}的个人信息：{person.summary()}")
        )
        self.stdout.write(f"记录：个人信息查看记录 #{person.record.pk}")


def _os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in a bare container
        return "?"
