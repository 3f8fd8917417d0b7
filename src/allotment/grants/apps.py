from django.apps import AppConfig


class GrantsConfig(AppConfig):
    """Schemes, grants, allocation periods, allocation pools and allocations."""

    name = "allotment.grants"
    label = "grants"
    verbose_name = "Grants and allocations"
