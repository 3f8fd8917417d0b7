"""The usage tests' site: days are computed in UTC, as the expected numbers assume."""

import pytest


@pytest.fixture(autouse=True)
def _utc_site(settings):
    """Days are the site's days: the expected numbers below are for a UTC site."""
    if settings.TIME_ZONE != "UTC":
        settings.TIME_ZONE = "UTC"
