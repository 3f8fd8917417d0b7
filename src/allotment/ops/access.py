"""Who may read /metrics.

The metrics name machines, import formats and request patterns, and their volumes: not
secret, but not for the public either. Allowed are

- a request from a loopback address that no proxy forwarded (a Prometheus, or an operator,
  on the same host). A request carrying Forwarded, X-Forwarded-For or X-Real-IP came
  through a proxy, so its loopback address says nothing about the client: it needs one of
  the two below. A proxy that adds none of these headers must not pass /metrics through;
- `Authorization: Bearer <ALLOTMENT_METRICS_TOKEN>`, when that setting is not empty;
- a signed-in site administrator (a browser, to have a look).

Checked in that order, so a scrape touches neither the session nor the database.
"""

import hmac
from ipaddress import ip_address

from django.conf import settings
from django.http import HttpRequest

from allotment.access.policy import is_site_admin

PROXY_HEADERS = ("HTTP_FORWARDED", "HTTP_X_FORWARDED_FOR", "HTTP_X_REAL_IP")


def from_loopback(request: HttpRequest) -> bool:
    if any(header in request.META for header in PROXY_HEADERS):
        return False
    try:
        return ip_address(request.META.get("REMOTE_ADDR", "")).is_loopback
    except ValueError:  # no address (a Unix socket) or a garbled one
        return False


def bears_token(request: HttpRequest) -> bool:
    token = getattr(settings, "ALLOTMENT_METRICS_TOKEN", "")
    if not token:
        return False
    scheme, _, given = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(given.strip().encode(), token.encode())


def may_scrape(request: HttpRequest) -> bool:
    return (
        from_loopback(request)
        or bears_token(request)
        or is_site_admin(getattr(request, "user", None))
    )
