"""Log lines never carry a full phone or ID number.

A search by phone puts the number into the request line (``GET /admin/leads/lead/?q=138…``),
the Referer of the next request, and any error logged about that request. ``MaskIdentifiers`` is
a logging filter that rewrites a record's final text with every phone and ID number masked (the
same ``186****4854`` / ``452159**********2X`` as on screens). It sits on every handler: Django's
(settings.LOGGING: the root console, ``django.server`` for runserver's request lines,
``django.request``) and gunicorn's access and error logs (config/gunicorn.py).

What counts as an identifier is ``core.masking.mask_identifiers``' (the same recogniser that
masks partners' answers): what the admin's search accepts, as it may appear in a log line,
percent-encoded once or twice included.

Pure Python, no Django: gunicorn's master process loads it before any Django setup.
"""

import logging

from core.masking import mask_identifiers


class MaskIdentifiers(logging.Filter):
    """Rewrites a record's message (and its traceback) with identifiers masked; drops nothing.

    The message is formatted here, once (``record.args`` cleared), so every handler after this
    one sees the masked text; a record already masked is left alone."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "identifiers_masked", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # a broken format: let the handler report it as it would
            return True
        masked = mask_identifiers(message)
        if masked != message or record.args:
            record.msg, record.args = masked, ()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_identifiers(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_identifiers(record.stack_info)
        record.identifiers_masked = True
        return True


def mask_handlers(*loggers: logging.Logger) -> None:
    """Put ``MaskIdentifiers`` on every handler of these loggers (once each)."""
    for logger in loggers:
        for handler in logger.handlers:
            if not any(isinstance(f, MaskIdentifiers) for f in handler.filters):
                handler.addFilter(MaskIdentifiers())
