from django.apps import AppConfig


class UsageConfig(AppConfig):
    """Raw job records and storage snapshots, their daily aggregate, charging and reports."""

    name = "allotment.usage"
    label = "usage"
    verbose_name = "Usage"

    def ready(self) -> None:
        from allotment.grants import services as grants

        from .reports import used_by_pool

        grants.register_usage_source(used_by_pool)
        from . import signals  # noqa: F401
