from django.apps import AppConfig


class BurstConfig(AppConfig):
    """Worker VMs booted in clouds for a batch machine's queue; the burst loop is
    registered with the agent when Django starts."""

    name = "allotment.burst"
    verbose_name = "Burst"

    def ready(self) -> None:
        from allotment.agent.registry import register

        from .loops import CLOUDS, DECIDE, VMS

        for loop in (CLOUDS, DECIDE, VMS):
            register(loop)
