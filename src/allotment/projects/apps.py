from django.apps import AppConfig


class ProjectsConfig(AppConfig):
    """The project tree (institutes at its roots), project levels and memberships."""

    name = "allotment.projects"
    label = "projects"
    verbose_name = "Projects"
