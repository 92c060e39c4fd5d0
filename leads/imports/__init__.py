"""The lead import pipeline, in the order a file goes through it:

``upload`` (receive the file, analyse it: the preview) reads it with ``spreadsheets``, finds
which column is which field (``columns``), cleans each cell (``cleaning``) a block at a time
into ``staging``'s column-wise rows, and compares them with the leads already there
(``matching``); ``writing`` imports them in one transaction, with ``sealing``'s helper process
sealing personal data on the other core; ``rejected`` gives back the rows to fix. ``batches``
moves a batch between states, ``sizes`` holds the tunable sizes, ``services`` the use cases the
admin and the CLI call, ``tasks`` the background steps and ``admin`` the views.

Imports nothing: ``python -m leads.imports.sealing`` starts without Django.
"""
