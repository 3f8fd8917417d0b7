"""/metrics and /healthz: for Prometheus and load balancers, not for people.

Neither needs a session, a CSRF token or a sign-in (a load balancer has none); /metrics
decides for itself who may read it (see ops.access). Both say not to cache them.
"""

from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from . import health
from .access import may_scrape
from .metrics import exposition_registry


@csrf_exempt
@login_not_required
@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not may_scrape(request):
        return HttpResponseForbidden(
            "Metrics are for loopback, a bearer of the metrics token, or site administrators.\n",
            content_type="text/plain; charset=utf-8",
        )
    return HttpResponse(generate_latest(exposition_registry()), content_type=CONTENT_TYPE_LATEST)


@csrf_exempt
@login_not_required
@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    body, status = health.report()
    return JsonResponse(body, status=status)
