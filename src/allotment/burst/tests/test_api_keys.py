"""A VM's key in a URL is its id (ASCII digits) or its name: other digits ("²", "٣", which
str.isdigit takes and int() does not) are a name no VM has, a 404, never a 500 (found by
the schema fuzz test)."""

import pytest
from rest_framework.test import APIClient

from allotment.people.models import Person

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("key", ["%C2%B2", "%D9%A3", "12%C2%B2", "9" * 19, "1" * 5000])
def test_a_key_of_other_digits_is_no_vm(example, key):
    client = APIClient()
    client.force_authenticate(Person.objects.create_superuser("keys-root", "k@example.org"))
    assert client.get(f"/api/vms/{key}/").status_code == 404
    assert client.post(f"/api/vms/{key}/retire/").status_code == 404
