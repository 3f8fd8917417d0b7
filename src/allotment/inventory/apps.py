from django.apps import AppConfig


class InventoryConfig(AppConfig):
    """Bare-metal nodes and their shifts between services; the shift loop is registered
    with the agent when Django starts."""

    name = "allotment.inventory"
    verbose_name = "Inventory"

    def ready(self) -> None:
        from allotment.agent.registry import register

        from .loops import SHIFT

        register(SHIFT)
