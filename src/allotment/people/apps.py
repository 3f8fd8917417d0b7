from django.apps import AppConfig


class PeopleConfig(AppConfig):
    """People (the user model) and career levels."""

    name = "allotment.people"
    label = "people"
    verbose_name = "People"
