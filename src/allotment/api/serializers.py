"""What each resource looks like in JSON, and how input becomes a validated write.

Related objects are named by their natural keys (project `pid`, person `username`,
machine, pool, scheme and period `name`) so scripts read like the CLI; every object also
carries its `id`. Model validators are left to the model: every write ends in the model's
full_clean() (through save_validated or a service), so a refusal carries the same message
as in the CLI and the admin. The serializers check only shapes (types, lengths, that a
named object exists and is visible).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from decimal import Decimal

from django.db.models import Manager, QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from allotment.access import policy
from allotment.core.numbers import plain
from allotment.core.validation import save_validated
from allotment.grants import services as grants
from allotment.grants.models import Allocation, AllocationPeriod, AllocationPool, Grant, Scheme
from allotment.groups.models import Group, GroupMember, Software
from allotment.groups.services import next_free_gid
from allotment.people.models import CareerLevel, Person
from allotment.projects import services as projects
from allotment.projects.models import Project, ProjectLevel, ProjectMembership
from allotment.resources.models import Machine, MachineCategory, Resource, ResourcePool
from allotment.usage import reports


@extend_schema_field(OpenApiTypes.NUMBER)
class QuantityField(serializers.DecimalField):
    """An exact amount in; a plain JSON number out (600, 7.25), as the CLI prints it."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_digits", 24)
        kwargs.setdefault("decimal_places", 6)
        super().__init__(coerce_to_string=False, **kwargs)

    def to_representation(self, value):
        return plain(Decimal(value))


class NamedField(serializers.SlugRelatedField):
    """A related object by its natural key, among those the requester may use.

    `scope(person, queryset)` narrows the choice (access.policy's visible_projects, say): an
    object outside it is answered as missing, in the words of services.get_project.
    """

    def __init__(self, slug_field: str, noun: str, scope: Callable | None = None, **kwargs):
        self.scope = scope
        kwargs.setdefault(
            "error_messages",
            {
                "does_not_exist": f'There is no {noun} "{{value}}".',
                "invalid": f"Give the {noun} by its {slug_field}, as text.",
            },
        )
        super().__init__(slug_field=slug_field, **kwargs)

    def get_queryset(self) -> QuerySet:
        queryset = super().get_queryset()
        request = self.context.get("request")
        if self.scope is not None:
            queryset = self.scope(getattr(request, "user", None), queryset)
        return queryset

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


_built_fields: dict[type, dict] = {}


def _copy_field(field: serializers.Field) -> serializers.Field:
    nests = (
        isinstance(field, serializers.BaseSerializer)
        or hasattr(field, "child")
        or hasattr(field, "child_relation")
    )
    return copy.deepcopy(field) if nests else copy.copy(field)


class LedgerSerializer(serializers.ModelSerializer):
    """Writes through save_validated(): the model's clean() and constraints decide.

    Field validators and uniqueness checks copied from the model are dropped here so each
    problem is reported once, by the model, in its words.
    """

    save_exclude: tuple[str, ...] = ()

    def get_fields(self):
        """The fields ModelSerializer builds from the model, built once per class and copied
        for each use (building them by introspection costs a seventh of a list request).

        Binding a field to its serializer sets attributes on the field itself, so each use
        needs its own copies. A plain field's attributes are only read once it is bound, and
        a shallow copy is a tenth of the cost of DRF's deep copy (which builds the field
        anew); a field that holds other fields (a list of related objects, a nested
        serializer) binds those to itself, and is deep-copied."""
        built = _built_fields.get(type(self))
        if built is None:
            built = _built_fields[type(self)] = super().get_fields()
        return {name: _copy_field(field) for name, field in built.items()}

    def build_standard_field(self, field_name, model_field):
        cls, kwargs = super().build_standard_field(field_name, model_field)
        kwargs.pop("validators", None)
        return cls, kwargs

    def get_validators(self):
        return []

    def create(self, validated_data):
        return save_validated(self.Meta.model(**validated_data), exclude=self.save_exclude)

    def update(self, instance, validated_data):
        for name, value in validated_data.items():
            setattr(instance, name, value)
        return save_validated(instance, exclude=self.save_exclude)


def _fixed_on_update(serializer: serializers.Serializer, attrs: dict, fields: tuple, how: str):
    """Refuse changing fields that identify an object (remove it and add another instead)."""
    instance = serializer.instance
    if instance is None:
        return
    errors = {
        name: [f"cannot be changed; {how}"]
        for name in fields
        if name in attrs and getattr(instance, name) != attrs[name]
    }
    if errors:
        raise serializers.ValidationError(errors)


# People -------------------------------------------------------------------------------


class PersonSerializer(LedgerSerializer):
    institute = NamedField("pid", "institute", queryset=Project.objects.all(), allow_null=True,
                           required=False)  # fmt: skip
    career_level = NamedField("name", "career level", queryset=CareerLevel.objects.all(),
                              allow_null=True, required=False)  # fmt: skip
    save_exclude = ("password",)

    class Meta:
        model = Person
        fields = [
            "id", "username", "title", "first_name", "last_name", "email", "email_verified",
            "institute", "career_level", "is_active", "is_locked", "is_staff", "date_joined",
            "date_approved", "expires",
        ]  # fmt: skip
        # Verified only by the person's own confirmation or an administrator's set_email().
        read_only_fields = ["date_joined", "email_verified"]

    def create(self, validated_data):
        person = Person(**validated_data)
        person.set_unusable_password()  # as `allot person create`: no password until one is set
        return save_validated(person, exclude=self.save_exclude)


# Projects and memberships -------------------------------------------------------------


def _with_lineage(projects: list[Project]) -> list[Project]:
    """Give each project its (depth, institute pid), read for all of them in one query."""
    missing = [p for p in projects if "_lineage" not in p.__dict__]
    if missing:
        found = Project.objects.lineages(p.pk for p in missing)
        for project in missing:
            project._lineage = found.get(project.pk, (None, None))
    return projects


class PageListSerializer(serializers.ListSerializer):
    """A list that reads what its rows need for the whole page at once (`prepare`), before
    each row is serialized: one query per page, not one per row."""

    def prepare(self, items: list) -> None:
        raise NotImplementedError

    def to_representation(self, data):
        items = list(data.all() if isinstance(data, Manager | QuerySet) else data)
        self.prepare(items)
        return super().to_representation(items)


class ProjectListSerializer(PageListSerializer):
    def prepare(self, items):
        _with_lineage(items)


class ProjectSerializer(LedgerSerializer):
    parent = NamedField("pid", "project", scope=policy.visible_projects,
                        queryset=Project.objects.all(), allow_null=True,
                        required=False)  # fmt: skip
    institute = serializers.SerializerMethodField(help_text="The root of the project's tree.")
    depth = serializers.SerializerMethodField(help_text="0 for an institute.")

    class Meta:
        model = Project
        list_serializer_class = ProjectListSerializer
        fields = [
            "id", "pid", "name", "description", "parent", "institute", "depth",
            "allocation_mode", "is_active", "start_date", "end_date",
        ]  # fmt: skip

    def to_representation(self, instance):
        _with_lineage([instance])
        return super().to_representation(instance)

    @extend_schema_field(OpenApiTypes.STR)
    def get_institute(self, obj: Project) -> str:
        return obj._lineage[1]

    def get_depth(self, obj: Project) -> int:
        return obj._lineage[0]

    def create(self, validated_data):
        data = dict(validated_data)
        return projects.create_project(
            data.pop("pid"), data.pop("name"), parent=data.pop("parent", None), **data
        )


class MembershipSerializer(LedgerSerializer):
    project = NamedField("pid", "project", scope=policy.visible_projects,
                         queryset=Project.objects.all())  # fmt: skip
    # Any person may be added (a manager adds people they cannot see yet).
    person = NamedField("username", "person", queryset=Person.objects.all())
    project_level = NamedField("name", "project level", queryset=ProjectLevel.objects.all(),
                               allow_null=True, required=False)  # fmt: skip

    class Meta:
        model = ProjectMembership
        fields = [
            "id", "project", "person", "project_level", "is_leader", "is_supervisor",
            "is_default_project", "is_primary_contact", "date_joined",
        ]  # fmt: skip

    def validate(self, attrs):
        _fixed_on_update(self, attrs, ("project", "person"), "remove the member and add again.")
        return attrs

    def create(self, validated_data):
        data = dict(validated_data)
        return projects.add_member(
            data.pop("project"),
            data.pop("person"),
            level=data.pop("project_level", None),
            leader=data.pop("is_leader", False),
            supervisor=data.pop("is_supervisor", False),
            default=data.pop("is_default_project", False),
            primary_contact=data.pop("is_primary_contact", False),
            **data,
        )


# Unix groups --------------------------------------------------------------------------


class GroupSerializer(LedgerSerializer):
    gid = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False,
                                   help_text="Omit to take the next free gid.")  # fmt: skip
    institute = NamedField("pid", "institute", queryset=Project.objects.all(), allow_null=True,
                           required=False)  # fmt: skip
    project = NamedField("pid", "project", queryset=Project.objects.all(), allow_null=True,
                         required=False)  # fmt: skip
    software = NamedField("name", "software", queryset=Software.objects.all(), allow_null=True,
                          required=False)  # fmt: skip
    owner_kind = serializers.CharField(read_only=True, allow_null=True)
    members = serializers.SlugRelatedField(slug_field="username", many=True, read_only=True)

    class Meta:
        model = Group
        fields = [
            "id", "name", "gid", "description", "owner_kind", "institute", "project",
            "software", "members",
        ]  # fmt: skip

    def create(self, validated_data):
        validated_data.setdefault("gid", next_free_gid())
        return super().create(validated_data)


class GroupMemberSerializer(LedgerSerializer):
    """One person in one unix group. Only a software group's members are added by hand: a
    project's or institute's group follows its memberships, and the model says so."""

    group = NamedField("name", "unix group", scope=policy.visible_groups,
                       queryset=Group.objects.all())  # fmt: skip
    person = NamedField("username", "person", queryset=Person.objects.all())

    class Meta:
        model = GroupMember
        fields = ["id", "group", "person"]


# Machines and resources ---------------------------------------------------------------


class MachineSerializer(LedgerSerializer):
    category = NamedField("name", "machine category", queryset=MachineCategory.objects.all())
    cores = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)
    nodes = serializers.IntegerField(min_value=0, max_value=2**31 - 1, required=False)

    class Meta:
        model = Machine
        fields = [
            "id", "name", "category", "kind", "description", "cores", "nodes", "start_date",
            "end_date", "time_zone", "engine", "engine_options",
        ]  # fmt: skip


class ResourcePoolSerializer(LedgerSerializer):
    unit_size = QuantityField(required=False)
    capacity = serializers.SerializerMethodField(
        help_text="sum(quantity × scaling factor) of its resources, in the pool's units."
    )

    class Meta:
        model = ResourcePool
        fields = [
            "id", "name", "units", "aggregation", "metric", "unit_size", "description", "capacity",
        ]  # fmt: skip

    @extend_schema_field(OpenApiTypes.NUMBER)
    def get_capacity(self, obj: ResourcePool):
        annotated = getattr(obj, "total_capacity", None)
        return plain(Decimal(annotated) if annotated is not None else obj.capacity)


class ResourceSerializer(LedgerSerializer):
    machine = NamedField("name", "machine", queryset=Machine.objects.all())
    pool = NamedField("name", "resource pool", queryset=ResourcePool.objects.all())
    quantity = QuantityField(required=False)
    scaling_factor = QuantityField(max_digits=12, required=False)

    class Meta:
        model = Resource
        fields = ["id", "name", "machine", "pool", "quantity", "scaling_factor"]


# Grants and allocations ---------------------------------------------------------------


class SchemeSerializer(LedgerSerializer):
    class Meta:
        model = Scheme
        fields = ["id", "name", "description", "opened", "closed"]


class PeriodSerializer(LedgerSerializer):
    class Meta:
        model = AllocationPeriod
        fields = ["id", "name", "start", "end"]


class GrantSerializer(LedgerSerializer):
    project = NamedField("pid", "project", scope=policy.visible_projects,
                         queryset=Project.objects.all())  # fmt: skip
    scheme = NamedField("name", "scheme", queryset=Scheme.objects.all())

    class Meta:
        model = Grant
        fields = ["id", "project", "scheme", "description", "awarded", "begins", "expires"]

    def create(self, validated_data):
        return grants.create_grant(**validated_data)


class PoolListSerializer(PageListSerializer):
    """Reads what every pool of the page used in one go (grants.services.used_by_pool)."""

    def prepare(self, items):
        self.context["used"] = grants.used_by_pool(p.pk for p in items)


class AllocationPoolSerializer(LedgerSerializer):
    project = NamedField("pid", "project", scope=policy.visible_projects,
                         queryset=Project.objects.all())  # fmt: skip
    period = NamedField("name", "allocation period", queryset=AllocationPeriod.objects.all())
    resource_pool = NamedField("name", "resource pool", queryset=ResourcePool.objects.all())
    units = serializers.CharField(source="resource_pool.units", read_only=True)
    allocated = serializers.SerializerMethodField(help_text="Sum of the pool's allocations.")
    used = serializers.SerializerMethodField(help_text="Charged to the pool, by aggregation.")
    remaining = serializers.SerializerMethodField(help_text="allocated − used.")

    class Meta:
        model = AllocationPool
        fields = [
            "id", "project", "period", "resource_pool", "units", "allocated", "used", "remaining",
        ]  # fmt: skip
        list_serializer_class = PoolListSerializer

    def _allocated(self, obj) -> Decimal:
        annotated = getattr(obj, "allocated", None)
        if annotated is None:
            # A pool without the list's annotation (just created or updated): read once.
            found = self.context.setdefault("allocated", {})
            if obj.pk not in found:
                pool = grants.with_allocated(AllocationPool.objects.filter(pk=obj.pk))[0]
                found[obj.pk] = pool.allocated
            annotated = found[obj.pk]
        return Decimal(annotated)

    def _used(self, obj) -> Decimal:
        used = self.context.get("used")
        if used is None or obj.pk not in used:
            # A pool the list did not read (a detail, a write): read once, kept for remaining.
            used = {**(used or {}), **grants.used_by_pool([obj.pk])}
            used.setdefault(obj.pk, 0)
            self.context["used"] = used
        return Decimal(used[obj.pk])

    @extend_schema_field(OpenApiTypes.NUMBER)
    def get_allocated(self, obj):
        return plain(self._allocated(obj))

    @extend_schema_field(OpenApiTypes.NUMBER)
    def get_used(self, obj):
        return plain(self._used(obj))

    @extend_schema_field(OpenApiTypes.NUMBER)
    def get_remaining(self, obj):
        return plain(self._allocated(obj) - self._used(obj))


class AllocationSerializer(LedgerSerializer):
    """An allocation adds a quantity to a project's pool under a grant.

    Created by naming the grant, the period and the resource pool (as `allot allocation
    add`): the pool is the grant's project's for that period, made if new. Afterwards only
    the quantity and description change.
    """

    grant = serializers.PrimaryKeyRelatedField(queryset=Grant.objects.all())
    project = serializers.CharField(source="allocation_pool.project.pid", read_only=True)
    period = NamedField("name", "allocation period", source="allocation_pool.period",
                        queryset=AllocationPeriod.objects.all())  # fmt: skip
    resource_pool = NamedField("name", "resource pool", source="allocation_pool.resource_pool",
                               queryset=ResourcePool.objects.all())  # fmt: skip
    allocation_pool = serializers.PrimaryKeyRelatedField(read_only=True)
    quantity = QuantityField()

    class Meta:
        model = Allocation
        fields = [
            "id", "grant", "project", "period", "resource_pool", "allocation_pool", "quantity",
            "description",
        ]  # fmt: skip

    def get_fields(self):
        fields = super().get_fields()
        request = self.context.get("request")
        fields["grant"].queryset = policy.of_visible_projects(
            getattr(request, "user", None), Grant.objects.all()
        )
        return fields

    def validate(self, attrs):
        where = attrs.pop("allocation_pool", {})
        if self.instance is not None:
            pool = self.instance.allocation_pool
            given = {"grant": attrs.get("grant"), **where}
            current = {
                "grant": self.instance.grant,
                "period": pool.period,
                "resource_pool": pool.resource_pool,
            }
            errors = {
                name: ["cannot be changed; delete the allocation and add another."]
                for name, value in given.items()
                if value is not None and value != current[name]
            }
            if errors:
                raise serializers.ValidationError(errors)
            attrs.pop("grant", None)
        else:
            attrs.update(where)
        return attrs

    def create(self, validated_data):
        return grants.allocate(
            validated_data["grant"],
            validated_data["period"],
            validated_data["resource_pool"],
            validated_data["quantity"],
            description=validated_data.get("description", ""),
        )


# Usage --------------------------------------------------------------------------------


class UsageReportQuery(serializers.Serializer):
    """The parameters of `allot usage report`, checked before the report runs."""

    project = serializers.CharField(required=False, help_text="Only this project's usage.")
    subtree = serializers.BooleanField(required=False, default=False,
                                       help_text="With project: its subtree too.")  # fmt: skip
    machine = serializers.CharField(required=False, help_text="Only this machine.")
    pool = serializers.CharField(required=False, help_text="Resource pool (default: CPU).")
    by = serializers.ChoiceField(choices=reports.PERIODS, default="month", required=False)
    group_by = serializers.ChoiceField(choices=list(reports.GROUPS), required=False)
    # `from` and `to` are Python keywords, so they are added under their names this way.
    locals()["from"] = serializers.DateField(required=False, help_text="First day, YYYY-MM-DD.")
    locals()["to"] = serializers.DateField(required=False, help_text="Last day, YYYY-MM-DD.")

    def validate(self, attrs):
        if attrs.get("from") and attrs.get("to") and attrs["from"] > attrs["to"]:
            raise serializers.ValidationError({"to": ["must be on or after from."]})
        return attrs


class UsageRowSerializer(serializers.Serializer):
    """One row of the report; the group's column (project, person, ...) is named by group_by."""

    period = serializers.CharField()
    jobs = serializers.IntegerField()
    raw = serializers.FloatField(help_text="In the pool's units, before scaling.")
    used = serializers.FloatField(help_text="In the pool's units, scaled.")
