"""Serializers share their built fields' templates but never a bound field."""

from rest_framework import serializers as drf
from rest_framework.test import APIRequestFactory

from allotment.api import serializers


def test_each_serializer_binds_its_own_copies_of_the_fields(example):
    factory = APIRequestFactory()
    first = serializers.MembershipSerializer(context={"request": factory.get("/a")})
    second = serializers.MembershipSerializer(context={"request": factory.get("/b")})
    for name in ("project", "person", "is_leader"):
        a, b = first.fields[name], second.fields[name]
        assert a is not b
        assert (a.parent, b.parent) == (first, second)
        assert a.context["request"] is not b.context["request"]
    template = serializers._built_fields[serializers.MembershipSerializer]["project"]
    assert template.parent is None and template.field_name is None  # never bound itself


def test_a_field_holding_other_fields_is_copied_whole():
    child = drf.CharField()
    listed = drf.ListField(child=child)
    copied = serializers._copy_field(listed)
    assert copied is not listed and copied.child is not child
    plain = drf.CharField(max_length=3)
    assert serializers._copy_field(plain) is not plain
