"""Exports of leads, collision results and push history: ``resources`` (what goes in a file),
``services`` (writing and recording it), ``admin`` (the export mixins and the export records)."""
