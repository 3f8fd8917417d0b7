"""The operations endpoints, included at the root before every other app."""

from django.urls import path

from . import views

app_name = "ops"
urlpatterns = [
    path("metrics", views.metrics, name="metrics"),
    path("healthz", views.healthz, name="healthz"),
]
