from django.apps import AppConfig


class CliConfig(AppConfig):
    """The `allot` command's nouns and verbs."""

    name = "allotment.cli"
    label = "cli"
    verbose_name = "CLI"
