"""The lead import pipeline, in the order a file goes through it: ``upload`` (receive and
analyse: the preview) → ``spreadsheets`` (read xlsx/xls/csv) → ``columns`` and ``cleaning``
(which column is which field; each cell normalised and validated) → ``staging`` (valid rows,
column by column, in encrypted chunks) → ``writing`` (one transaction; ``sealing`` is its helper
process) → ``rejected`` (the rows to fix). ``services`` holds the use cases, ``tasks`` the
background steps, ``admin`` the views.

Imports nothing: ``python -m leads.imports.sealing`` must start without Django.
"""
