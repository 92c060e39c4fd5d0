from django.core.management.base import BaseCommand

from reporting import counts


class Command(BaseCommand):
    help = "重建首页概览的每日计数：重新安装触发器，并从线索、撞库结果、推送和审计日志重新统计"

    def handle(self, *args, **options):
        counts.rebuild()
        self.stdout.write(self.style.SUCCESS("每日计数已重建。"))
