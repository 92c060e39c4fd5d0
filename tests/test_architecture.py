"""The seams between apps that replace imports against the direction of the layers
(pyproject's importlinter contracts): what the lower app calls is what the higher one
registered, and the numbers a model keeps are the protocol's."""

import pytest

from collision.models import UserStatusChoice
from jobs.handlers import handler_for
from jobs.models import JobKind
from partners.protocols.yrxd_collision import UserStatus


def test_check_statuses_are_the_protocols_numbers():
    assert {s.name: s.value for s in UserStatusChoice} == {s.name: s.value for s in UserStatus}


def test_checks_and_pushes_register_their_chunk_handlers_with_jobs():
    from collision.services import check_job_chunk
    from pushes.services import push_job_chunk, pushes_left_today

    assert handler_for(JobKind.CHECK).work is check_job_chunk
    assert handler_for(JobKind.CHECK).requests_left_today is None
    assert handler_for(JobKind.PUSH).work is push_job_chunk
    assert handler_for(JobKind.PUSH).requests_left_today is pushes_left_today
    with pytest.raises(LookupError):
        handler_for("no-such-kind")
