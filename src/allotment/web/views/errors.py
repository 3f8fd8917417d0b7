"""Error pages in the portal's look, saying why; API paths answer JSON.

Django's own pages are bare and drop the reason the code gave (PermissionDenied("..."),
Http404("...")). The reason is shown escaped, as any text in a template. Only a message
that is a string is shown: Django's "no URL matched" 404 carries its URL map in its
arguments, which is not for visitors. A 500 or a 400 says nothing of its cause: an
unexpected failure's message may hold internals, and a suspicious request's message
echoes what the attacker sent.
"""

import logging

from django.core.exceptions import BadRequest
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.urls import Resolver404
from django.utils.log import log_response

logger = logging.getLogger(__name__)

TEMPLATE = "web/error.html"


def _reason(exception: Exception | None) -> str:
    args = getattr(exception, "args", ())
    return args[0] if args and isinstance(args[0], str) else ""


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _page(
    request: HttpRequest | None, status: int, title: str, reason: str, hint: str
) -> HttpResponse:
    context = {"status": status, "title": title, "reason": reason, "hint": hint}
    return HttpResponse(render_to_string(TEMPLATE, context, request=request), status=status)


def _answer(request: HttpRequest, status: int, title: str, reason: str, hint: str):
    if _is_api(request):
        return JsonResponse({"detail": reason}, status=status)
    return _page(request, status, title, reason, hint)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """400: the reason only when our code gave one (BadRequest), never a suspicion's."""
    reason = _reason(exception) if isinstance(exception, BadRequest) else ""
    return _answer(
        request,
        400,
        "Bad request",
        reason or "The request could not be understood or was refused as malformed.",
        "Check the address or the form and try again.",
    )


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """403 with the reason; logged here as one warning line.

    Django logs a PermissionDenied with its traceback (django.request, exc_info); a refusal
    is an expected outcome, not a failure, and the traceback would bury real errors. A
    response logged once is not logged again (`_has_been_logged`).
    """
    reason = _reason(exception) or "You may not do this."
    response = _answer(
        request,
        403,
        "Forbidden",
        reason,
        "If you think you should be able to, ask a leader of the project or a site administrator.",
    )
    log_response(
        "Forbidden (Permission denied): %s: %s",
        request.path,
        reason,
        response=response,
        request=request,
    )
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    reason = "" if isinstance(exception, Resolver404) else _reason(exception)
    if not reason:
        what = "API endpoint" if _is_api(request) else "page"
        reason = f"There is no {what} at {request.path}."
    return _answer(
        request,
        404,
        "Not found",
        reason,
        "It may have been removed, or you may not be allowed to see it.",
    )


def server_error(request: HttpRequest) -> HttpResponse:
    """500 without the request's context: the failure may be the database itself, which
    the menu (the signed-in person, their pending decisions) would need."""
    title, reason = "Server error", "Something went wrong on our side; it has been logged."
    hint = "Try again in a moment; if it keeps happening, tell the site administrators."
    if _is_api(request):
        return JsonResponse({"detail": reason}, status=500)
    try:
        return _page(None, 500, title, reason, hint)
    except Exception:  # the page itself failed (a template, static files): plain text
        logger.exception("The 500 page could not be rendered")
        return HttpResponse(f"{title}: {reason}", status=500, content_type="text/plain")


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """403 for a form whose CSRF check failed: most often a page left open past its session,
    or cookies turned off. Django's reason is technical ("CSRF token missing"), so it is
    logged but the page says what to do."""
    response = _answer(
        request,
        403,
        "Forbidden",
        "This form could not be accepted: it was sent without a valid security token.",
        "Reload the page and send the form again; sign-in needs cookies to be enabled.",
    )
    log_response(
        "Forbidden (CSRF): %s: %s", request.path, reason, response=response, request=request
    )
    return response
