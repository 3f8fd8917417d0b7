"""Every API error is JSON, with the rules' own words.

Bodies:
- refused input (a model's clean(), a serializer, a filter): 400 `{"errors": {"field":
  ["message"]}}`, messages not tied to a field under "non_field_errors";
- everything else (401, 403, 404, 405, 409): `{"detail": "message"}`.
"""

from __future__ import annotations

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import DataError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import exception_handler as drf_exception_handler

NON_FIELD = api_settings.NON_FIELD_ERRORS_KEY  # "non_field_errors"


def django_errors(error: DjangoValidationError) -> dict[str, list[str]]:
    """A model's ValidationError as {field: [messages]}, non-field ones under NON_FIELD."""
    if hasattr(error, "error_dict"):
        return {
            (NON_FIELD if field == NON_FIELD_ERRORS else field): list(messages)
            for field, messages in error.message_dict.items()
        }
    return {NON_FIELD: list(error.messages)}


def _flatten(detail) -> dict | list | str:
    """DRF's ErrorDetail tree as plain strings."""
    if isinstance(detail, dict):
        return {str(k): _flatten(v) for k, v in detail.items()}
    if isinstance(detail, list):
        return [_flatten(v) for v in detail]
    return str(detail)


def validation_body(detail) -> dict:
    detail = _flatten(detail)
    if not isinstance(detail, dict):
        detail = {NON_FIELD: detail if isinstance(detail, list) else [detail]}
    return {"errors": detail}


def exception_handler(exc, context):
    if isinstance(exc, DjangoValidationError):
        return Response({"errors": django_errors(exc)}, status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, ProtectedError | RestrictedError):
        names = sorted({str(obj) for obj in exc.protected_objects if obj is not None})[:5]
        return Response(
            {"detail": f"Cannot delete: other records refer to it ({', '.join(names)})."},
            status=status.HTTP_409_CONFLICT,
        )
    if isinstance(exc, DataError):
        # A value the database cannot hold (a NUL byte in text, a number out of range)
        # that no rule caught first: bad input, not a server error.
        return Response(
            {"detail": "A value in the request cannot be stored or looked up as given."},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a bug, not bad input: let it be a 500 and be logged
    if isinstance(exc, exceptions.ValidationError):
        response.data = validation_body(exc.detail)
    elif isinstance(response.data, dict | list):
        response.data = _flatten(response.data)
    return response


def not_found(request, *args, **kwargs) -> JsonResponse:
    """Unknown paths under /api/ answer JSON too, not Django's HTML 404 page."""
    return JsonResponse({"detail": "Not found."}, status=404)
