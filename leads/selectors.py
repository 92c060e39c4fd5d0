"""Reads about leads that span apps.

A lead's timeline is what the apps above leads did with it (checks, pushes, later a
distribution): each contributes its events through a source registered from its
``AppConfig.ready()``, so leads reads them without importing those apps."""

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class TimelineEvent:
    at: datetime
    kind: str
    partner: str
    outcome: str
    detail: str
    good: bool


# source(lead, *, reveal) -> that app's events about the lead; in registration order
TimelineSource = Callable[..., Iterable[TimelineEvent]]
_timeline_sources: dict[str, TimelineSource] = {}


def register_timeline_source(name: str, source: TimelineSource) -> None:
    _timeline_sources[name] = source


def lead_timeline(lead, *, reveal: bool = False) -> list[TimelineEvent]:
    """Every check and push of a lead, newest first, with what the partner answered (masked
    unless ``reveal``: a partner may echo the person's name or numbers)."""
    events = [
        event for source in _timeline_sources.values() for event in source(lead, reveal=reveal)
    ]
    return sorted(events, key=lambda event: event.at, reverse=True)
