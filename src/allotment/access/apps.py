from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "allotment.access"
    label = "access"
    verbose_name = "Access"
