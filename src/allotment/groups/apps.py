from django.apps import AppConfig


class GroupsConfig(AppConfig):
    """Unix groups and the software catalogue that owns some of them."""

    name = "allotment.groups"
    label = "groups"
    verbose_name = "Unix groups"

    def ready(self) -> None:
        from . import signals  # noqa: F401
