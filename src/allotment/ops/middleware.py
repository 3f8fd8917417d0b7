"""Counting and timing every request, first in the middleware chain.

It runs on every API request, so it does the least it can: two clock reads, one counter
increment and one histogram observation, no database and no session. It never touches the
response's body, so streamed responses stay streamed (their latency is the time to the
headers). Being first, it also counts requests that a later middleware answers; those
answered before any URL resolved (CommonMiddleware's redirect to an added slash, a
disallowed host) count as route "unmatched", like a 404.
"""

import time
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from .metrics import LATENCY, REQUESTS, method_of, route_of


class RequestMetricsMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        started = time.perf_counter()
        response = self.get_response(request)
        elapsed = time.perf_counter() - started
        route = route_of(request)
        REQUESTS.labels(method_of(request), route, str(response.status_code)).inc()
        LATENCY.labels(route).observe(elapsed)
        return response
