from django.apps import AppConfig


class CoreConfig(AppConfig):
    """Shared building blocks: model base classes, validation and formatting helpers."""

    name = "allotment.core"
    label = "core"
    verbose_name = "Core"

    def ready(self) -> None:
        from allotment.agent.registry import register

        from .loops import STATES

        register(STATES)
