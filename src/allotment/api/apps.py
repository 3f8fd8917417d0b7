from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "allotment.api"
    label = "api"
    verbose_name = "REST API"
