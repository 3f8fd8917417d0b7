"""The OpenAPI schema and the interactive docs page, served without any CDN.

The site may be offline, so Swagger UI's files come from the drf-spectacular-sidecar
package, served by `asset` below from the package itself: this needs neither
"drf_spectacular_sidecar" in INSTALLED_APPS nor collectstatic. Without the package the
docs page says how to get it; the schema works either way.
"""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.http import FileResponse, Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.renderers import OpenApiJsonRenderer
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.permissions import AllowAny


def sidecar_dir() -> Path | None:
    """Swagger UI's files inside drf-spectacular-sidecar, if it is installed."""
    try:
        import drf_spectacular_sidecar
    except ImportError:
        return None
    root = Path(drf_spectacular_sidecar.__file__).parent / "static" / "drf_spectacular_sidecar"
    found = root / "swagger-ui-dist"
    return found if found.is_dir() else None


class SchemaView(SpectacularAPIView):
    """The OpenAPI 3 schema as JSON; public, like any API's reference (it holds no data)."""

    permission_classes = [AllowAny]
    authentication_classes: list = []
    renderer_classes = [OpenApiJsonRenderer]


class DocsView(SpectacularSwaggerView):
    """Swagger UI over /api/openapi.json, with its files from the sidecar package."""

    permission_classes = [AllowAny]
    url_name = "api:schema"

    @extend_schema(exclude=True)
    def get(self, request, *args, **kwargs):
        if sidecar_dir() is None:
            return HttpResponse(
                "<!doctype html><title>Allotment API</title><p>The interactive docs need the "
                "drf-spectacular-sidecar package (pip install drf-spectacular-sidecar). The "
                f'schema is at <a href="{reverse("api:schema")}">{reverse("api:schema")}</a>.',
                status=503,
            )
        return super().get(request, *args, **kwargs)

    @staticmethod
    def _swagger_ui_resource(filename: str) -> str:
        return reverse("api:docs-asset", kwargs={"path": filename})

    @staticmethod
    def _swagger_ui_favicon() -> str:
        return reverse("api:docs-asset", kwargs={"path": "favicon-32x32.png"})


def asset(request, path: str) -> FileResponse:
    """One file of Swagger UI; only files inside the package's directory are served."""
    root = sidecar_dir()
    if root is None:
        raise Http404("drf-spectacular-sidecar is not installed.")
    target = (root / path).resolve()
    if not target.is_file() or not target.is_relative_to(root.resolve()):
        raise Http404(path)
    content_type = mimetypes.guess_type(target.name)[0] or "application/octet-stream"
    response = FileResponse(target.open("rb"), content_type=content_type)
    response["Cache-Control"] = "public, max-age=86400"
    return response
