from django.apps import AppConfig


class ApplicationsConfig(AppConfig):
    name = "allotment.applications"
    label = "applications"
    verbose_name = "Applications"
