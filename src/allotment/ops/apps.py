from django.apps import AppConfig


class OpsConfig(AppConfig):
    name = "allotment.ops"
    label = "ops"
    verbose_name = "Operations"
