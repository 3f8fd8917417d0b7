from django.apps import AppConfig


class AgentConfig(AppConfig):
    """The reconcile loops of `allot agent`."""

    name = "allotment.agent"
    label = "agent"
    verbose_name = "Agent"
