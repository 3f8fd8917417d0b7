"""The workflows over the API: join requests, invitations and project applications.

The same steps as the pages under /apply/ and `allot application`, through the same
services (allotment.applications.services), which check the decider's right and lock the
row. Who sees what:

- a join request: the person who asked, and whoever manages the project's members
  (policy.managed_project_ids: its leaders, leaders above it, its supervisors);
- an invitation: whoever manages the project's members, and the person who accepted it;
- a project application: the applicant, and the leaders of its institute;
- site administrators: everything.

Anything else is a 404. A step on something the caller sees but may not take (the
requester approving their own request, a leader deciding an administrator's stage) is a
403 in the service's words; a step on something already decided, or decided by someone
else while the caller was deciding it (two leaders at the same moment), is a 409 naming
who decided it and when. The secret of an invitation is answered once, by the POST that
makes it; lists and details never show it (the database holds only its hash).

Accepting an invitation as someone without an account (the page's second form) is not
offered here: the API serves people who are signed in (a token or a session), and a
newcomer has neither until they accept; they use the link in the email.
"""

from __future__ import annotations

from collections.abc import Callable

import django_filters as filters
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Q, QuerySet
from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from allotment.access import policy
from allotment.applications import services
from allotment.applications.mail import url
from allotment.applications.models import Invitation, JoinRequest, ProjectApplication
from allotment.projects.models import Project, ProjectLevel

from .filters import FilterSet
from .permissions import refuse
from .serializers import LedgerSerializer, MembershipSerializer, NamedField
from .views import LedgerViewSet


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "It was decided by someone else meanwhile."
    default_code = "conflict"


def _username(**kwargs) -> serializers.SlugRelatedField:
    """A person named by username; null when nobody (yet, or an operator at the shell)."""
    return serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True, **kwargs
    )


def _ref(letter: str) -> serializers.CharField:
    return serializers.CharField(
        read_only=True,
        help_text=f"{letter}<n>, as the pages and `allot application` name it.",
    )


def _level_field(**kwargs) -> NamedField:
    return NamedField("name", "project level", queryset=ProjectLevel.objects.all(),
                      allow_null=True, required=False, **kwargs)  # fmt: skip


# Serializers -----------------------------------------------------------------------------


class JoinRequestSerializer(LedgerSerializer):
    """A request to join a project. POST {project, message} asks, as the caller."""

    ref = _ref("J")
    person = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Who asked: the caller, for a new one."
    )
    project = NamedField("pid", "active project", queryset=Project.objects.filter(is_active=True),
                         help_text="The project to join, by its pid.")  # fmt: skip
    decided_by = _username()

    class Meta:
        model = JoinRequest
        fields = [
            "id", "ref", "person", "project", "message", "state", "created", "decided_by",
            "decided_at", "reason",
        ]  # fmt: skip
        read_only_fields = ["state", "created", "decided_at", "reason"]

    def create(self, validated_data):
        return services.request_to_join(
            self.context["request"].user,
            validated_data["project"],
            validated_data.get("message", ""),
        )


INVITATION_STATES = [*Invitation.State.choices, ("expired", "Expired")]


class InvitationSerializer(LedgerSerializer):
    """An invitation as lists and details show it: never its token, nor the token's hash."""

    ref = _ref("I")
    project = NamedField("pid", "project", scope=policy.visible_projects,
                         queryset=Project.objects.all(),
                         help_text="The project to join, by its pid.")  # fmt: skip
    project_level = _level_field(help_text="The project level of the member-to-be.")
    state = serializers.ChoiceField(
        choices=INVITATION_STATES,
        source="status",
        read_only=True,
        help_text="expired: still pending past expires_at; its link no longer works.",
    )
    invited_by = _username()
    accepted_by = _username()
    revoked_by = _username()

    class Meta:
        model = Invitation
        fields = [
            "id", "ref", "project", "email", "project_level", "message", "state", "created",
            "expires_at", "invited_by", "accepted_by", "accepted_at", "revoked_by", "revoked_at",
        ]  # fmt: skip
        read_only_fields = ["created", "expires_at", "accepted_at", "revoked_at"]

    def validate_project(self, project: Project) -> Project:
        # As the invitation page, which offers only projects, not institutes.
        if project.is_institute:
            raise serializers.ValidationError(
                f'"{project.pid}" is an institute, not a project; invite people to one of '
                "its projects instead."
            )
        return project

    def create(self, validated_data):
        invitation, token = services.invite(
            validated_data["project"],
            validated_data["email"],
            self.context["request"].user,
            level=validated_data.get("project_level"),
            message=validated_data.get("message", ""),
        )
        invitation.token = token  # for NewInvitationSerializer's answer; never stored
        return invitation


class NewInvitationSerializer(InvitationSerializer):
    """A new invitation, with the secret token of its link: the only time the API shows
    it. POST {project, email, project_level, message} invites."""

    token = serializers.CharField(
        read_only=True,
        help_text="The invitation's secret, shown once here and never again (only its hash "
        "is kept). Whoever holds it may accept: POST /api/invitations/accept/.",
    )
    link = serializers.SerializerMethodField(help_text="The link the email carries.")
    # A new invitation is pending; a plain string keeps the schema's one enum of invitation
    # states on Invitation (an enum on two components would get a made-up name).
    state = serializers.CharField(source="status", read_only=True, help_text="pending.")

    class Meta(InvitationSerializer.Meta):
        fields = [*InvitationSerializer.Meta.fields, "token", "link"]

    def get_link(self, obj: Invitation) -> str:
        return url("applications:invitation", obj.token)


class ProjectApplicationSerializer(LedgerSerializer):
    """An application for a new project. POST {institute, pid, name, description}
    applies, as the caller."""

    ref = _ref("P")
    applicant = serializers.SlugRelatedField(
        slug_field="username", read_only=True, help_text="Who applied: the caller, for a new one."
    )
    institute = NamedField(
        "pid",
        "institute",
        queryset=services.institutes(),
        help_text="The institute (a root project) the new project will be in.",
    )
    leader_decided_by = _username(help_text="The institute's leader who decided stage 1.")
    decided_by = _username()
    project = serializers.SlugRelatedField(
        slug_field="pid",
        read_only=True,
        allow_null=True,
        help_text="The project made on final approval.",
    )

    class Meta:
        model = ProjectApplication
        fields = [
            "id", "ref", "applicant", "institute", "pid", "name", "description", "state",
            "created", "leader_decided_by", "leader_decided_at", "decided_by", "decided_at",
            "reason", "project",
        ]  # fmt: skip
        read_only_fields = ["state", "created", "leader_decided_at", "decided_at", "reason"]

    def create(self, validated_data):
        return services.apply_for_project(
            self.context["request"].user,
            validated_data["institute"],
            validated_data["pid"],
            validated_data["name"],
            validated_data.get("description", ""),
        )


class ApproveJoinRequestSerializer(serializers.Serializer):
    project_level = _level_field(help_text="The new member's project level (none if omitted).")


class ReasonSerializer(serializers.Serializer):
    reason = serializers.CharField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Why it is declined (required by the rules; the applicant is told it).",
    )


class AcceptInvitationSerializer(serializers.Serializer):
    token = serializers.CharField(
        help_text="The secret of the invitation link (…/apply/invitation/TOKEN/)."
    )


# Filters ---------------------------------------------------------------------------------


class JoinRequestFilter(FilterSet):
    project = filters.CharFilter(field_name="project__pid")
    person = filters.CharFilter(field_name="person__username")
    state = filters.ChoiceFilter(choices=JoinRequest.State.choices)

    class Meta:
        model = JoinRequest
        fields = ["project", "person", "state"]


class InvitationFilter(FilterSet):
    project = filters.CharFilter(field_name="project__pid")
    email = filters.CharFilter(field_name="email", lookup_expr="iexact")
    state = filters.ChoiceFilter(
        choices=INVITATION_STATES,
        method="in_state",
        help_text="pending: still acceptable; expired: no longer.",
    )

    class Meta:
        model = Invitation
        fields = ["project", "email", "state"]

    def in_state(self, queryset, name, value):
        now = timezone.now()
        if value == "pending":
            return queryset.filter(state=value, expires_at__gt=now)
        if value == "expired":
            return queryset.filter(state="pending", expires_at__lte=now)
        return queryset.filter(state=value)


class ProjectApplicationFilter(FilterSet):
    institute = filters.CharFilter(field_name="institute__pid")
    applicant = filters.CharFilter(field_name="applicant__username")
    pid = filters.CharFilter(field_name="pid", lookup_expr="iexact")
    state = filters.ChoiceFilter(choices=ProjectApplication.State.choices)

    class Meta:
        model = ProjectApplication
        fields = ["institute", "applicant", "pid", "state"]


# The steps ---------------------------------------------------------------------------------

REFUSALS = {
    400: OpenApiResponse(OpenApiTypes.OBJECT, description="Refused input, naming the field."),
    403: OpenApiResponse(OpenApiTypes.OBJECT, description="The caller may not take this step."),
    404: OpenApiResponse(OpenApiTypes.OBJECT, description="Not there, or not for the caller."),
    409: OpenApiResponse(
        OpenApiTypes.OBJECT,
        description="Already decided (perhaps a moment ago, by someone else): who and when.",
    ),
}


def _refusals(*codes: int) -> dict:
    return {code: REFUSALS[code] for code in codes}


def decide(row, step: Callable[[], object], still_possible: Callable | None = None):
    """Take the step (a service call, which locks the row and checks the caller's right).

    A refusal because the row is no longer open, or moved on since the caller read it (a
    second leader approving at the same moment finds it approved, or at the site
    administrators' stage), is a 409 in the service's words; any other is answered as
    usual (400 for a ValidationError, 403 for a PermissionDenied)."""
    seen = row.state
    possible = still_possible or (lambda fresh: fresh.is_open)
    try:
        return step()
    except DjangoValidationError as error:
        if not possible(type(row).objects.get(pk=row.pk)):
            raise Conflict(" ".join(error.messages)) from None
        raise
    except DjangoPermissionDenied as error:
        if type(row).objects.get(pk=row.pk).state != seen:
            raise Conflict(str(error)) from None
        raise


class WorkflowViewSet(LedgerViewSet):
    """List, read and create; the steps are actions. The services decide who may take each
    step (inside the row's lock), so the viewset checks only what the caller can see."""

    http_method_names = ["get", "post", "head", "options"]
    lookup_value_regex = r"[0-9]+"
    ordering_fields = ["created", "id"]

    def may_write(self, request: Request) -> None:
        """Anyone signed in may ask; each step's right is the service's to check."""

    def may_change(self, request: Request, obj) -> None:
        """The services check the decider, on the locked row."""

    def read_body(self, serializer_class: type[serializers.Serializer]) -> dict:
        body = serializer_class(data=self.request.data, context=self.get_serializer_context())
        body.is_valid(raise_exception=True)
        return body.validated_data

    def step(self, take: Callable[[object], object]) -> Response:
        """Take a step on the row the URL names (404 unless visible); answer the row."""
        row = self.get_object()
        decide(row, lambda: take(row))
        row.refresh_from_db()
        return Response(self.get_serializer(row).data)


def decline_and_withdraw(serializer: type[serializers.Serializer], noun: str) -> tuple:
    """The decline and withdraw actions of a viewset of join requests or applications (the
    same steps of the services for both; `serializer` describes the answer)."""

    @extend_schema(
        summary=f"Decline the {noun}, telling the one who asked why",
        request=ReasonSerializer,
        responses={200: serializer, **_refusals(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def decline(self, request, pk=None):
        reason = self.read_body(ReasonSerializer)["reason"]
        return self.step(lambda row: services.decline(row, request.user, reason))

    @extend_schema(
        summary=f"Withdraw one's own {noun}",
        request=None,
        responses={200: serializer, **_refusals(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def withdraw(self, request, pk=None):
        return self.step(lambda row: services.withdraw(row, request.user))

    return decline, withdraw


def _own_or_managed(user, rows: QuerySet, owner: str) -> QuerySet:
    """Rows of projects whose members the user manages, and the user's own."""
    managed = policy.managed_project_ids(user)
    if managed is None:
        return rows
    return rows.filter(Q(**{f"{owner}_id": user.pk}) | Q(project_id__in=managed))


class JoinRequestViewSet(WorkflowViewSet):
    """Requests to join a project: one's own, and those of the projects whose members one
    manages (site administrators: all). Anyone signed in may ask to join an active project;
    its leaders and supervisors approve or decline; the one who asked may withdraw."""

    serializer_class = JoinRequestSerializer
    filterset_class = JoinRequestFilter
    search_fields = ["project__pid", "person__username"]

    def get_queryset(self):
        rows = JoinRequest.objects.select_related("person", "project", "decided_by")
        return _own_or_managed(self.request.user, rows, "person")

    @extend_schema(
        summary="Approve: the person becomes a member",
        request=ApproveJoinRequestSerializer,
        responses={200: JoinRequestSerializer, **_refusals(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        level = self.read_body(ApproveJoinRequestSerializer).get("project_level")
        return self.step(lambda row: services.approve(row, request.user, level=level))

    decline, withdraw = decline_and_withdraw(JoinRequestSerializer, "request")


class InvitationViewSet(WorkflowViewSet):
    """Invitations by email to the projects whose members one manages (site administrators:
    all), and those one accepted. A project's leaders and supervisors invite and revoke;
    anyone signed in holding an invitation's token accepts it."""

    filterset_class = InvitationFilter
    search_fields = ["email", "project__pid"]

    def get_serializer_class(self):
        return NewInvitationSerializer if self.action == "create" else InvitationSerializer

    def get_queryset(self):
        rows = Invitation.objects.select_related(
            "project", "project_level", "invited_by", "accepted_by", "revoked_by"
        )
        return _own_or_managed(self.request.user, rows, "accepted_by")

    def may_write(self, request: Request) -> None:
        if self.action != "create":
            return  # revoke: the service checks; accept: anyone signed in with the token
        managed = policy.managed_project_ids(request.user)
        if managed is not None and not managed:
            refuse("Only site administrators and a project's leaders and supervisors may "
                   "invite people to it.")  # fmt: skip

    @extend_schema(
        summary="Revoke: the link stops working",
        request=None,
        responses={200: InvitationSerializer, **_refusals(403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request, pk=None):
        return self.step(lambda row: services.revoke_invitation(row, request.user))

    @extend_schema(
        summary="Accept as the caller, who becomes a member",
        description="The signed-in caller accepts the invitation whose secret token is "
        "given (from the link in its email) and becomes a member of its project. Someone "
        "without an account accepts through the link itself.",
        request=AcceptInvitationSerializer,
        responses={201: MembershipSerializer, **_refusals(400, 409)},
    )
    @action(detail=False, methods=["post"])
    def accept(self, request):
        token = self.read_body(AcceptInvitationSerializer)["token"]
        found = services.find_invitation(token)
        if found is None:
            raise serializers.ValidationError({"token": [services.invitation_refusal(None)]})
        membership = decide(
            found,
            lambda: services.accept_invitation(token, request.user),
            still_possible=lambda fresh: services.invitation_refusal(fresh) is None,
        )
        body = MembershipSerializer(membership, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


class ProjectApplicationViewSet(WorkflowViewSet):
    """Applications for new projects: one's own, and those under the institutes one leads
    (site administrators: all). Anyone signed in may apply; the institute's leaders decide
    the first stage, a site administrator the second (when the site asks for it), and final
    approval makes the project, led by the applicant; the applicant may withdraw."""

    serializer_class = ProjectApplicationSerializer
    filterset_class = ProjectApplicationFilter
    search_fields = ["pid", "name", "applicant__username"]

    def get_queryset(self):
        rows = ProjectApplication.objects.select_related(
            "applicant", "institute", "leader_decided_by", "decided_by", "project"
        )
        user = self.request.user
        if policy.is_site_admin(user):
            return rows
        led = policy.led_project_ids(user)
        return rows.filter(Q(applicant_id=user.pk) | Q(institute_id__in=led))

    @extend_schema(
        summary="Approve the current stage",
        description="pending: by a leader of the institute (state becomes leader_approved "
        "when a site administrator must also approve, else approved); leader_approved: by a "
        "site administrator. A site administrator's approval is final: the project is "
        "made, led by the applicant, and named in `project`.",
        request=None,
        responses={200: ProjectApplicationSerializer, **_refusals(400, 403, 404, 409)},
    )
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        return self.step(lambda row: services.approve(row, request.user))

    decline, withdraw = decline_and_withdraw(ProjectApplicationSerializer, "application")
