from django.apps import AppConfig


class SlurmConfig(AppConfig):
    """Slurm as an engine: its loops are registered with the agent when Django starts."""

    name = "allotment.integrations.slurm"
    label = "slurm"
    verbose_name = "Slurm"

    def ready(self) -> None:
        from allotment.agent.registry import register

        from .loops import PULL, SYNC

        register(SYNC)
        register(PULL)
