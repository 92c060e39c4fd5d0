"""Django's zh_Hans formats, to the second: an audit trail, a job's start and end and a push's
attempts are read and compared by the second, and a minute hides their order."""

DATETIME_FORMAT = "Y年n月j日 H:i:s"
SHORT_DATETIME_FORMAT = "Y年n月j日 H:i:s"
TIME_FORMAT = "H:i:s"
