"""Query-string filters of the list endpoints, by natural keys (`?project=ProjectA`).

An unknown name filters to nothing (as a search would); a malformed value (a boolean that
is not one, a bad date) is a 400 naming the parameter.

A filter only narrows a queryset the policy has already cut (the viewsets' get_queryset).
One that reads other rows to decide (a project's members, a subtree) must read them within
what the caller may see, or it tells them about what they may not see: PersonFilter's
`project` looks the project up among the visible ones. ProjectFilter's `institute` and
`under` resolve their root among all projects, which tells nothing: they answer only
visible projects, whose parent and institute the caller already reads in each row.
"""

from __future__ import annotations

import django_filters as filters
from django import forms

from allotment.access import policy
from allotment.grants.models import Allocation, AllocationPeriod, AllocationPool, Grant, Scheme
from allotment.groups.models import Group, GroupMember
from allotment.people.models import Person
from allotment.projects.models import AllocationMode, Project, ProjectMembership
from allotment.resources.models import Machine, Resource, ResourcePool


class IdFilter(filters.NumberFilter):
    """A whole, positive id: 1.5 or 10**30 is a 400, not a database error."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", 2**63 - 1)
        super().__init__(*args, **kwargs)


class StrictBooleanField(forms.NullBooleanField):
    """true/false (1/0, yes/no); anything else is refused, not read as "no filter"."""

    widget = forms.Select(choices=[("", "All"), ("true", "Yes"), ("false", "No")])

    WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}

    def to_python(self, value):
        if value in (None, ""):
            return None
        if isinstance(value, bool):
            return value
        found = self.WORDS.get(str(value).strip().lower())
        if found is None:
            raise forms.ValidationError(f'"{value}" is not true or false.')
        return found

    def validate(self, value) -> None:
        pass


class StrictBooleanFilter(filters.BooleanFilter):
    """django-filter's BooleanWidget reads any word but true/false as "no filter", which
    would turn a typo (`?protected=maybe`) into the whole list; this refuses it (400)."""

    field_class = StrictBooleanField


class FilterSet(filters.FilterSet):
    """django-filter's FilterSet, with its form class built once per class.

    django-filter builds a new form class, and a new form field for every filter, each
    time a filter is used: a fifth of a filtered list request. Our filters take nothing
    from the request, so one form class per FilterSet serves every request."""

    def get_form_class(self):
        cls = type(self)
        form = cls.__dict__.get("_form_class")
        if form is None:
            form = super().get_form_class()
            cls._form_class = form  # on this class itself, never inherited by a subclass
        return form


def _subtree_of(queryset, field: str, pid: str):
    """Rows whose `field` (a project) lies in the subtree of the project `pid`."""
    root = Project.objects.filter(pid=pid).first()
    if root is None:
        return queryset.none()
    ids = Project.objects.subtree(root).values_list("pk", flat=True)
    return queryset.filter(**{f"{field}__in": list(ids)})


class ProjectFilter(FilterSet):
    parent = filters.CharFilter(field_name="parent__pid", help_text="Children of this project.")
    institute = filters.CharFilter(method="in_institute", help_text="Projects of this institute.")
    under = filters.CharFilter(method="in_subtree", help_text="This project and its subtree.")
    root = StrictBooleanFilter(field_name="parent", lookup_expr="isnull",
                                 help_text="true: institutes only.")  # fmt: skip
    active = StrictBooleanFilter(field_name="is_active")
    allocation_mode = filters.ChoiceFilter(choices=AllocationMode.choices)

    class Meta:
        model = Project
        fields = ["parent", "institute", "under", "root", "active", "allocation_mode"]

    def in_institute(self, queryset, name, value):
        """An institute's projects are its subtree (the institute included)."""
        if not Project.objects.filter(pid=value, parent__isnull=True).exists():
            return queryset.none()
        return _subtree_of(queryset, "pk", value)

    def in_subtree(self, queryset, name, value):
        return _subtree_of(queryset, "pk", value)


class PersonFilter(FilterSet):
    institute = filters.CharFilter(field_name="institute__pid")
    project = filters.CharFilter(method="member_of", help_text="Members of this project.")
    career_level = filters.CharFilter(field_name="career_level__name")
    active = StrictBooleanFilter(field_name="is_active")
    locked = StrictBooleanFilter(field_name="is_locked")

    class Meta:
        model = Person
        fields = ["institute", "project", "career_level", "active", "locked"]

    def member_of(self, queryset, name, value):
        """The project is looked up among those the caller may see: the people list already
        holds only visible people, but asking it for the members of a hidden project would
        tell which of them are in it."""
        project = policy.visible_projects(getattr(self.request, "user", None)).filter(pid=value)
        members = ProjectMembership.objects.filter(project__in=project).values("person_id")
        return queryset.filter(pk__in=members)


class MembershipFilter(FilterSet):
    project = filters.CharFilter(field_name="project__pid")
    person = filters.CharFilter(field_name="person__username")
    project_level = filters.CharFilter(field_name="project_level__name")

    class Meta:
        model = ProjectMembership
        fields = ["project", "person", "project_level", "is_leader", "is_supervisor",
                  "is_default_project", "is_primary_contact"]  # fmt: skip


class GroupFilter(FilterSet):
    project = filters.CharFilter(field_name="project__pid")
    institute = filters.CharFilter(field_name="institute__pid")
    software = filters.CharFilter(field_name="software__name")
    member = filters.CharFilter(method="with_member", help_text="Groups this person is in.")

    class Meta:
        model = Group
        fields = ["project", "institute", "software", "member"]

    def with_member(self, queryset, name, value):
        return queryset.filter(memberships__person__username=value)


class GroupMemberFilter(FilterSet):
    group = filters.CharFilter(field_name="group__name")
    person = filters.CharFilter(field_name="person__username")
    software = filters.CharFilter(field_name="group__software__name")

    class Meta:
        model = GroupMember
        fields = ["group", "person", "software"]


class MachineFilter(FilterSet):
    category = filters.CharFilter(field_name="category__name")

    class Meta:
        model = Machine
        fields = ["category", "kind", "engine"]


class ResourcePoolFilter(FilterSet):
    class Meta:
        model = ResourcePool
        fields = ["aggregation", "metric", "units"]


class ResourceFilter(FilterSet):
    machine = filters.CharFilter(field_name="machine__name")
    pool = filters.CharFilter(field_name="pool__name")

    class Meta:
        model = Resource
        fields = ["machine", "pool"]


class SchemeFilter(FilterSet):
    open_on = filters.DateFilter(method="open_on_day", help_text="Schemes taking grants that day.")

    class Meta:
        model = Scheme
        fields = ["open_on"]

    def open_on_day(self, queryset, name, value):
        return queryset.filter(opened__lte=value).exclude(closed__lte=value)


class PeriodFilter(FilterSet):
    on = filters.DateFilter(method="covering", help_text="The periods covering this day.")

    class Meta:
        model = AllocationPeriod
        fields = ["on"]

    def covering(self, queryset, name, value):
        return queryset.filter(start__lte=value, end__gte=value)


class GrantFilter(FilterSet):
    project = filters.CharFilter(field_name="project__pid")
    scheme = filters.CharFilter(field_name="scheme__name")
    active_on = filters.DateFilter(method="active_on_day", help_text="Grants running that day.")

    class Meta:
        model = Grant
        fields = ["project", "scheme", "active_on"]

    def active_on_day(self, queryset, name, value):
        return queryset.filter(begins__lte=value, expires__gte=value)


class AllocationPoolFilter(FilterSet):
    project = filters.CharFilter(field_name="project__pid")
    period = filters.CharFilter(field_name="period__name")
    resource_pool = filters.CharFilter(field_name="resource_pool__name")

    class Meta:
        model = AllocationPool
        fields = ["project", "period", "resource_pool"]


class AllocationFilter(FilterSet):
    grant = IdFilter(field_name="grant_id")
    project = filters.CharFilter(field_name="allocation_pool__project__pid")
    period = filters.CharFilter(field_name="allocation_pool__period__name")
    resource_pool = filters.CharFilter(field_name="allocation_pool__resource_pool__name")

    class Meta:
        model = Allocation
        fields = ["grant", "project", "period", "resource_pool"]
