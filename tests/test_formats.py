"""Times on every page are shown to the second (config/formats): a list of pushes or calls made
within one minute is read in order."""

from datetime import datetime
from zoneinfo import ZoneInfo

from django.utils import formats, translation


def test_times_are_shown_to_the_second_in_chinese():
    moment = datetime(2026, 12, 1, 9, 5, 7, tzinfo=ZoneInfo("Asia/Shanghai"))
    with translation.override("zh-hans"):
        assert formats.date_format(moment, "DATETIME_FORMAT") == "2026年12月1日 09:05:07"
        assert formats.localize(moment) == "2026年12月1日 09:05:07"
        assert formats.time_format(moment.time()) == "09:05:07"
