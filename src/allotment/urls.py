"""URL map: the portal at /, workflows under /apply/, the API under /api/, the admin,
and the operations endpoints (/metrics, /healthz)."""

from django.conf import settings
from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("allotment.ops.urls")),
    path("api/", include("allotment.api.urls")),
    path("apply/", include("allotment.applications.urls")),
    path("admin/", admin.site.urls),
    path("", include("allotment.web.urls")),
]
# The portal's error pages (JSON under /api/); see web.views.errors.
handler400 = "allotment.web.views.errors.bad_request"
handler403 = "allotment.web.views.errors.permission_denied"
handler404 = "allotment.web.views.errors.page_not_found"
handler500 = "allotment.web.views.errors.server_error"

if settings.OIDC_ENABLED:
    urlpatterns.insert(0, path("oidc/", include("mozilla_django_oidc.urls")))
