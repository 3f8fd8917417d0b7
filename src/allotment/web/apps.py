from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "allotment.web"
    label = "web"
    verbose_name = "Portal"
