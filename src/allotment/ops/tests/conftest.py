"""Scraping /metrics from the tests: the parsed families, and one sample's value."""

import pytest
from prometheus_client.parser import text_string_to_metric_families

from allotment.ops import health


def scrape(client, **extra) -> dict:
    """{(sample name, frozenset of labels): value} from a /metrics scrape (must succeed)."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
    }


def value(samples: dict, name: str, **labels) -> float:
    """A sample's value, 0 if the scrape has no such sample (a counter not yet incremented)."""
    return samples.get((name, frozenset(labels.items())), 0)


@pytest.fixture(autouse=True)
def _fresh_migration_answer():
    """/healthz remembers the migration check per process; each test asks afresh."""
    health.forget_migrations()
    yield
    health.forget_migrations()
