from django.apps import AppConfig


class DemoConfig(AppConfig):
    """The example site loaded by `allot demo load`."""

    name = "allotment.demo"
    label = "demo"
    verbose_name = "Demo"
