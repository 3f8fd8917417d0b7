from django.apps import AppConfig


class ResourcesConfig(AppConfig):
    """Machine categories, machines, accounts, resource pools and resources."""

    name = "allotment.resources"
    label = "resources"
    verbose_name = "Machines and resources"
