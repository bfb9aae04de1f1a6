"""Fixtures of the feedback tests."""

from __future__ import annotations

import pytest

from huitou.feedback.services import surveys_seed


@pytest.fixture
def world(org_world):
    """The shared organisation with the default surveys seeded."""
    surveys_seed(organisation=org_world.org)
    return org_world
