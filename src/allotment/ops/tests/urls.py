"""The operations endpoints and the admin only: these tests do not depend on the portal's
pages, which other work changes (the project's root URLconf includes ops the same way)."""

from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("allotment.ops.urls")),
    path("admin/", admin.site.urls),
]
