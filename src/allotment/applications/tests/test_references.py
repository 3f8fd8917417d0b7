"""References (J12, I3, P5) and invitation tokens, which need no database to check."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from allotment.applications import services
from allotment.applications.inviting import hash_token


@pytest.mark.parametrize("ref", ["X1", "J", "12", "J1x", "P-"])
def test_a_malformed_reference_is_refused_before_any_lookup(ref):
    with pytest.raises(ValidationError, match="is not a reference: use J<n>"):
        services.find(ref)


def test_decision_urls_take_references_in_either_case():
    assert reverse("applications:approve", args=["J12"]) == "/apply/J12/approve/"
    assert reverse("applications:invitation", args=["abc-_9"]) == "/apply/invitation/abc-_9/"


def test_the_stored_hash_is_sha256_hex_and_differs_per_token():
    a, b = hash_token("one"), hash_token("two")
    assert len(a) == 64 and int(a, 16) >= 0
    assert a != b and a == hash_token("one")
