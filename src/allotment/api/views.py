"""The API's endpoints: one viewset per ledger table, the usage report, the docs.

Every queryset is cut by access.policy before anything else sees it, so a list, a detail
and a filter can only ever show what the person may see; writes are checked by
permissions.PolicyPermission (through `may_write`/`may_change` here) and end in the
model's clean(), through the same services as the CLI.
"""

from __future__ import annotations

from auditlog.context import auditlog_value
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import DecimalField, F, Prefetch, Sum
from django.db.models.functions import Coalesce
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import viewsets
from rest_framework.permissions import SAFE_METHODS
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.settings import api_settings
from rest_framework.views import APIView

from allotment.access import policy
from allotment.grants import services as grants
from allotment.grants.models import Allocation, AllocationPeriod, AllocationPool, Grant, Scheme
from allotment.groups import services as groups
from allotment.groups.models import Group, GroupMember
from allotment.people import addresses
from allotment.people.models import Person
from allotment.projects import services as projects
from allotment.projects.models import Project, ProjectMembership
from allotment.resources.models import Machine, Resource, ResourcePool
from allotment.usage import reports

from . import filters, serializers
from .models import ApiToken
from .permissions import (
    PolicyPermission,
    admin_only,
    changed_fields,
    refuse,
    refuse_fields,
)


def note_actor(request: Request) -> None:
    """Make the audit log name the API's caller.

    auditlog's middleware looks at request.user before the view runs, when a token has
    not been read yet (DRF authenticates inside the view), so a token's person would be
    logged as nobody. The middleware's context is a dict in a ContextVar, read when each
    log entry is saved: filling in the actor here covers every write of the request.
    """
    try:
        context = auditlog_value.get()
    except LookupError:
        return  # no middleware (a bare APIRequestFactory call): nothing to annotate
    if policy.signed_in(request.user) and context.get("actor") is None:
        context["actor"] = request.user
    extra = {"via": "api"}
    if isinstance(request.auth, ApiToken):
        extra["token"] = request.auth.prefix
    context["additional_data"] = extra


class QueryFilterBackend(DjangoFilterBackend):
    """DjangoFilterBackend, without building the filter form when the query names none of
    its filters (a plain list, a page, a detail): the form would filter nothing then, and
    building it costs a good part of a small request."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None:
            names = filterset_class.base_filters
            # A prefix match: some filters read several parameters (range_min, range_max).
            if not any(key.startswith(name) for key in request.query_params for name in names):
                return queryset
        return super().filter_queryset(request, queryset, view)


class LedgerViewSet(viewsets.ModelViewSet):
    """Read for anyone signed in (within what the policy shows), write as each kind says."""

    permission_classes = [PolicyPermission]
    # The site's filter backends (settings.REST_FRAMEWORK), with the quicker query filter.
    filter_backends = [
        QueryFilterBackend if backend is DjangoFilterBackend else backend
        for backend in api_settings.DEFAULT_FILTER_BACKENDS
    ]
    what = "these records"  # for refusals: "Only site administrators may change {what}."

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        note_actor(request)

    def may_write(self, request: Request) -> None:
        """Raise PermissionDenied unless the person may write some object of this kind."""
        admin_only(request, self.what)

    def may_change(self, request: Request, obj) -> None:
        """Raise PermissionDenied unless the person may change or delete `obj`."""
        admin_only(request, self.what)


# People -------------------------------------------------------------------------------


class PersonViewSet(LedgerViewSet):
    """People the caller may see (access.policy.visible_people). Administrators create; leaders
    of a person's institute edit them (never a site administrator); everyone edits their own
    name. Which fields each may write is access.policy.person_fields."""

    serializer_class = serializers.PersonSerializer
    filterset_class = filters.PersonFilter
    lookup_field = "username"
    lookup_value_regex = r"[\w.@+-]+"
    search_fields = ["username", "first_name", "last_name", "email"]
    ordering_fields = ["username", "last_name", "first_name", "date_joined", "id"]
    ordering = ["username"]
    what = "people"

    def get_queryset(self):
        people = Person.objects.select_related("institute", "career_level")
        return policy.visible_people(self.request.user, people)

    def may_write(self, request):
        if request.method == "POST":
            admin_only(request, "who is a person (create people)")

    def may_change(self, request, obj):
        user = request.user
        if request.method == "DELETE":
            admin_only(request, "who is a person (delete people)")
        elif not policy.can_edit_person(user, obj):
            # Nothing of this person is theirs to write: refused before the body is read,
            # naming the fields it holds when it holds any.
            body = request.data if isinstance(request.data, dict) else {}
            named = set(body) & set(serializers.PersonSerializer.Meta.fields)
            refuse(
                policy.person_fields_refusal(user, obj, named)
                or f"You may not change {obj.username}: only site administrators and leaders "
                "of their institute may."
            )

    def perform_update(self, serializer):
        user, person = self.request.user, serializer.instance
        refusal = policy.person_fields_refusal(
            user, person, changed_fields(person, serializer.validated_data)
        )
        if refusal:
            refuse(refusal)
        _vouch_for_email(serializer)
        serializer.save()

    def perform_create(self, serializer):
        _vouch_for_email(serializer)  # only site administrators create people (may_write)
        serializer.save()


def _vouch_for_email(serializer) -> None:
    """An email a site administrator writes is verified, as in the admin site and the CLI;
    nobody else may write one here (access.policy.person_fields)."""
    email = serializer.validated_data.get("email")
    instance = serializer.instance
    if email is not None and instance is not None:
        # Only a changed address is vouched for: a PUT sends the whole record back, and an
        # unverified email it merely repeats stays unverified.
        if addresses.canonical(email) != instance.email:
            instance.set_email(email, verified=True)
        serializer.validated_data["email"] = instance.email  # stored in canonical form
    elif email is not None:
        serializer.validated_data["email"] = addresses.canonical(email)
        serializer.validated_data["email_verified"] = bool(serializer.validated_data["email"])


# Projects and memberships -------------------------------------------------------------

LEADER_PROJECT_FIELDS = frozenset({"name", "description"})


class ProjectViewSet(LedgerViewSet):
    """The project tree, as far as the caller may see it, in pid order (or `ordering=`).
    Leaders create sub-projects under projects they lead and edit their name and description;
    administrators do everything else."""

    serializer_class = serializers.ProjectSerializer
    filterset_class = filters.ProjectFilter
    lookup_field = "pid"
    lookup_value_regex = r"[A-Za-z0-9][A-Za-z0-9_.-]*"
    search_fields = ["pid", "name", "description"]
    ordering_fields = ["pid", "name", "start_date", "end_date", "id"]
    what = "projects"

    def get_queryset(self):
        # Each project's depth and institute come from one query per page (ProjectSerializer);
        # lists are in pid order.
        projects = Project.objects.select_related("parent")
        return policy.visible_projects(self.request.user, projects)

    def may_write(self, request):
        user = request.user
        if request.method == "POST" and not (
            policy.is_site_admin(user) or policy.led_project_ids(user)
        ):
            refuse("Only site administrators and project leaders may create projects.")

    def may_change(self, request, obj):
        if request.method == "DELETE":
            admin_only(request, "the project tree (delete projects)")
        elif not policy.can_lead(request.user, obj):
            refuse(f'You do not lead "{obj.pid}", so you may not change it.')

    def perform_create(self, serializer):
        parent = serializer.validated_data.get("parent")
        if parent is None:
            admin_only(request=self.request, what="the institutes (projects without a parent)")
        elif not policy.can_lead(self.request.user, parent):
            refuse(f'You do not lead "{parent.pid}", so you may not create projects under it.')
        serializer.save()

    def perform_update(self, serializer):
        if not policy.is_site_admin(self.request.user):
            refuse_fields(
                changed_fields(serializer.instance, serializer.validated_data)
                - LEADER_PROJECT_FIELDS,
                "project leaders may change only name and description.",
            )
        serializer.save()


MEMBERSHIP_COLUMNS = [field.name for field in ProjectMembership._meta.concrete_fields]


class MembershipViewSet(LedgerViewSet):
    """Who is in which project. A project's leaders and supervisors add, change and remove its
    members; only leaders change a leader's membership or hand out roles (access.policy.
    membership_refusal)."""

    serializer_class = serializers.MembershipSerializer
    filterset_class = filters.MembershipFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["project__pid", "person__username"]
    ordering_fields = ["id", "date_joined", "project__pid", "person__username"]
    what = "memberships"

    def get_queryset(self):
        memberships = ProjectMembership.objects.select_related("project", "person", "project_level")
        if self.request.method in SAFE_METHODS:
            # A read shows the related rows by name: their other columns (a person's
            # twenty) would only be read, converted and dropped.
            memberships = memberships.only(
                *MEMBERSHIP_COLUMNS, "project__pid", "person__username", "project_level__name"
            )
        return policy.visible_memberships(self.request.user, memberships)

    def may_write(self, request):
        managed = policy.managed_project_ids(request.user)
        if request.method == "POST" and managed is not None and not managed:
            refuse("Only site administrators and a project's leaders and supervisors may change "
                   "its members.")  # fmt: skip

    def _may(self, project: Project, **kwargs) -> None:
        refusal = policy.membership_refusal(self.request.user, project, **kwargs)
        if refusal:
            refuse(refusal)

    def may_change(self, request, obj):
        # A leader's membership is the leaders' to change or remove, and so is removing one
        # that holds a role, whatever the body holds.
        self._may(obj.project, membership=obj, removing=request.method == "DELETE")

    def perform_create(self, serializer):
        data = serializer.validated_data
        self._may(data["project"], fields={name for name, value in data.items() if value is True})
        serializer.save()

    def perform_update(self, serializer):
        membership = serializer.instance
        self._may(
            membership.project,
            membership=membership,
            fields=changed_fields(membership, serializer.validated_data),
        )
        serializer.save()

    def perform_destroy(self, instance):
        projects.remove_member(instance.project, instance.person)


# Unix groups, machines, resources -----------------------------------------------------


class GroupViewSet(LedgerViewSet):
    """Unix groups: those of the projects and institutes the caller may see (software
    groups: administrators only); changed by administrators. Members follow memberships."""

    serializer_class = serializers.GroupSerializer
    filterset_class = filters.GroupFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["name", "description"]
    ordering_fields = ["name", "gid", "id"]
    what = "unix groups"

    def get_queryset(self):
        groups = Group.objects.select_related("institute", "project", "software").prefetch_related(
            Prefetch("members", queryset=Person.objects.only("pk", "username"))
        )
        return policy.visible_groups(self.request.user, groups)


class GroupMemberViewSet(LedgerViewSet):
    """Who is in which unix group, within the groups the caller may see. Site administrators
    add and remove the members of software groups; a project's or institute's group
    follows its memberships (change those instead)."""

    serializer_class = serializers.GroupMemberSerializer
    filterset_class = filters.GroupMemberFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["group__name", "person__username"]
    ordering_fields = ["group__name", "person__username", "id"]
    http_method_names = ["get", "post", "delete", "head", "options"]
    what = "the members of unix groups"

    def get_queryset(self):
        members = GroupMember.objects.select_related("group", "person")
        if policy.is_site_admin(self.request.user):
            return members
        return members.filter(group__in=policy.visible_groups(self.request.user).values("pk"))

    def perform_destroy(self, instance):
        groups.remove_member(instance)


class MachineViewSet(LedgerViewSet):
    """Machines; readable by anyone signed in, changed by administrators."""

    queryset = Machine.objects.select_related("category")
    serializer_class = serializers.MachineSerializer
    filterset_class = filters.MachineFilter
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"
    search_fields = ["name", "description"]
    ordering_fields = ["name", "cores", "nodes", "start_date", "id"]
    what = "machines"


class ResourcePoolViewSet(LedgerViewSet):
    """Resource pools (what is allocated and used) with their capacity; readable by anyone
    signed in, changed by administrators."""

    queryset = ResourcePool.objects.annotate(
        total_capacity=Coalesce(
            Sum(F("resources__quantity") * F("resources__scaling_factor")),
            0,
            output_field=DecimalField(max_digits=40, decimal_places=12),
        )
    )
    serializer_class = serializers.ResourcePoolSerializer
    filterset_class = filters.ResourcePoolFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["name", "description"]
    ordering_fields = ["name", "id"]
    what = "resource pools"


class ResourceViewSet(LedgerViewSet):
    """What each machine contributes to each pool; readable by anyone signed in, changed by
    administrators."""

    queryset = Resource.objects.select_related("machine", "pool")
    serializer_class = serializers.ResourceSerializer
    filterset_class = filters.ResourceFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["name"]
    ordering_fields = ["name", "quantity", "id"]
    what = "resources"


# Grants and allocations ---------------------------------------------------------------


class SchemeViewSet(LedgerViewSet):
    """Grant schemes; readable by anyone signed in, changed by administrators."""

    queryset = Scheme.objects.all()
    serializer_class = serializers.SchemeSerializer
    filterset_class = filters.SchemeFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["name", "description"]
    ordering_fields = ["name", "opened", "closed", "id"]
    what = "grant schemes"


class PeriodViewSet(LedgerViewSet):
    """Allocation periods; readable by anyone signed in, changed by administrators."""

    queryset = AllocationPeriod.objects.all()
    serializer_class = serializers.PeriodSerializer
    filterset_class = filters.PeriodFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["name"]
    ordering_fields = ["name", "start", "end", "id"]
    what = "allocation periods"


class GrantViewSet(LedgerViewSet):
    """Grants of the projects the caller may see; changed by administrators."""

    serializer_class = serializers.GrantSerializer
    filterset_class = filters.GrantFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["project__pid", "scheme__name", "description"]
    ordering_fields = ["begins", "expires", "awarded", "id"]
    what = "grants"

    def get_queryset(self):
        rows = Grant.objects.select_related("project", "scheme")
        return policy.of_visible_projects(self.request.user, rows)


class AllocationPoolViewSet(LedgerViewSet):
    """A project's budget of one resource pool in one period, with allocated, used and
    remaining in the pool's units; changed by administrators."""

    serializer_class = serializers.AllocationPoolSerializer
    filterset_class = filters.AllocationPoolFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["project__pid", "resource_pool__name", "period__name"]
    ordering_fields = ["project__pid", "period__start", "resource_pool__name", "id"]
    what = "allocation pools"

    def get_queryset(self):
        pools = grants.with_allocated(
            AllocationPool.objects.select_related("project", "period", "resource_pool")
        )
        return policy.of_visible_projects(self.request.user, pools)


class AllocationViewSet(LedgerViewSet):
    """Allocations of the projects the caller may see; changed by administrators."""

    serializer_class = serializers.AllocationSerializer
    filterset_class = filters.AllocationFilter
    lookup_value_regex = r"[0-9]+"
    search_fields = ["description", "allocation_pool__project__pid"]
    ordering_fields = ["quantity", "id"]
    what = "allocations"

    def get_queryset(self):
        allocations = Allocation.objects.select_related(
            "grant",
            "allocation_pool__project",
            "allocation_pool__period",
            "allocation_pool__resource_pool",
        )
        return policy.of_visible_projects(
            self.request.user, allocations, "allocation_pool__project_id"
        )


# Usage --------------------------------------------------------------------------------

# A refusal of reports.report() is about one parameter; its first words say which.
REPORT_ERROR_PARAMETERS = (
    ("There is no project", "project"),
    ("There is no machine", "machine"),
    ("There is no resource pool", "pool"),
    ("No resource pool measures", "pool"),
    ("from/to:", "from"),
    ("group_by:", "group_by"),
)


class UsageReportView(APIView):
    """`allot usage report` over HTTP, counting only the usage the caller may see."""

    permission_classes = [PolicyPermission]

    @extend_schema(
        operation_id="usage_report",
        summary="Usage per period (and group): jobs, raw and used, in the pool's units",
        description="The rows of `allot usage report --json`. A row also holds the group's "
        "column (project, person, institute, machine, ...) when group_by is given. Only the "
        "usage the caller may see is counted; a project they may not see is unknown.",
        parameters=[serializers.UsageReportQuery],
        responses={
            200: serializers.UsageRowSerializer(many=True),
            400: OpenApiResponse(OpenApiTypes.OBJECT, description="A parameter was refused."),
        },
    )
    def get(self, request: Request) -> Response:
        query = serializers.UsageReportQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        try:
            rows = reports.report(
                project=params.get("project") or None,
                subtree=params.get("subtree", False),
                machine=params.get("machine") or None,
                pool=params.get("pool") or None,
                date_from=params.get("from"),
                date_to=params.get("to"),
                by=params.get("by", "month"),
                group_by=params.get("group_by") or None,
                viewer=request.user,
            )
        except DjangoValidationError as error:
            messages = error.messages
            field = next(
                (name for start, name in REPORT_ERROR_PARAMETERS
                 if any(m.startswith(start) for m in messages)),
                "non_field_errors",
            )  # fmt: skip
            return Response({"errors": {field: messages}}, status=400)
        return Response(rows)
