"""The admin lists applications with filters, and does not edit them (the services do)."""

import pytest

from allotment.applications import services
from allotment.applications.models import Invitation, JoinRequest, ProjectApplication


@pytest.fixture
def one_of_each(example, person):
    services.request_to_join(person("farid"), example.projects["ProjectA"])
    services.invite(example.projects["ProjectA"], "guest@uni.example", person("alice"))
    services.apply_for_project(person("bob"), example.projects["InstituteA"], "Thesis", "T")


@pytest.mark.parametrize("model", [JoinRequest, Invitation, ProjectApplication])
def test_changelist_filters_and_read_only_change_page(admin_client, one_of_each, model):
    base = f"/admin/applications/{model._meta.model_name}/"
    page = admin_client.get(base, {"state": "pending"})
    assert page.status_code == 200
    assert model.objects.get().ref in page.content.decode()
    assert admin_client.get(base, {"q": "a"}).status_code == 200
    assert admin_client.get(f"{base}add/").status_code == 403
    change = admin_client.get(f"{base}{model.objects.get().pk}/change/")
    assert change.status_code == 200
    assert "token_hash" not in change.content.decode()
    assert admin_client.get(f"{base}{model.objects.get().pk}/history/").status_code == 200
