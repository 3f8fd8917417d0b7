from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The audit log on every table and its site-wide view."""

    name = "allotment.audit"
    label = "audit"
    verbose_name = "Audit log"
