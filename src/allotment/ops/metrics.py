"""The request metrics and the registry /metrics exposes.

Labels are bounded on purpose: a request is labelled by the URL *pattern* it resolved to
("/api/projects/<str:pid>/"), never its path, so a crawler walking ten thousand project ids
adds no series. Methods outside the standard set are lumped together for the same reason.

With several worker processes (gunicorn), set PROMETHEUS_MULTIPROC_DIR to an empty
directory writable by all workers before they start: prometheus_client then keeps the
counters in files there, and /metrics adds up every worker's, not just the one that
happened to answer the scrape.
"""

import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    disable_created_metrics,
)
from prometheus_client.multiprocess import MultiProcessCollector

from .collectors import LedgerCollector

# No "_created" series beside every counter and histogram: they double the series for a
# start time Prometheus does not use.
disable_created_metrics()

METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"

# This process's own metrics. A registry of our own, not prometheus_client's global one, so
# that what /metrics shows is exactly what is listed here.
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

REQUESTS = Counter(
    "allotment_http_requests",
    "HTTP requests answered, by method, URL pattern and status code.",
    ["method", "route", "status"],
    registry=REGISTRY,
)
LATENCY = Histogram(
    "allotment_http_request_duration_seconds",
    "Time to the response's headers (a streamed body is not waited for), by URL pattern.",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)

LEDGER = LedgerCollector()
REGISTRY.register(LEDGER)


def route_of(request) -> str:
    """The URL pattern the request resolved to, or "unmatched" (a 404 before any view)."""
    match = getattr(request, "resolver_match", None)
    if match is None:
        return UNMATCHED
    return "/" + (match.route or match.view_name or "")


def method_of(request) -> str:
    return request.method if request.method in METHODS else "other"


def exposition_registry() -> CollectorRegistry:
    """What /metrics renders: this process's registry, or, in multiprocess mode, every
    worker's request metrics (from their files) plus the ledger, read once."""
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return REGISTRY
    registry = CollectorRegistry()
    MultiProcessCollector(registry)
    registry.register(LEDGER)
    return registry
