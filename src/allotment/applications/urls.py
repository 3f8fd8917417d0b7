"""The workflows' pages under /apply/. References (J12, I3, P5) name what is decided."""

from django.urls import path, register_converter

from . import views


class RefConverter:
    regex = r"[JIPjip]\d+"

    def to_python(self, value: str) -> str:
        return value.upper()

    def to_url(self, value: str) -> str:
        return str(value)


register_converter(RefConverter, "ref")

app_name = "applications"
urlpatterns = [
    path("", views.mine, name="mine"),
    path("inbox/", views.inbox, name="inbox"),
    path("join/", views.join_list, name="join-list"),
    path("join/<str:pid>/", views.join, name="join"),
    path("invite/", views.invite, name="invite"),
    path("invitation/<str:token>/", views.invitation, name="invitation"),
    path("new-project/", views.new_project, name="new-project"),
    path("<ref:ref>/approve/", views.approve, name="approve"),
    path("<ref:ref>/decline/", views.decline, name="decline"),
    path("<ref:ref>/withdraw/", views.withdraw, name="withdraw"),
    path("<ref:ref>/revoke/", views.revoke, name="revoke"),
]
