"""Join requests: a person asks to join a project; its managers approve or decline."""

from __future__ import annotations

from collections.abc import Callable

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet

from allotment.access import policy
from allotment.core.validation import save_validated
from allotment.projects.models import Project, ProjectLevel, ProjectMembership
from allotment.projects.services import add_member

from . import mail
from .deciding import deciding, reason_required, record, require, take_back
from .models import JoinRequest

State = JoinRequest.State


def describe(request: JoinRequest) -> str:
    return (
        f'The request of {request.person} to join project "{request.project.pid}" ({request.ref})'
    )


def _context(request: JoinRequest, **extra) -> dict:
    return mail.with_links(request=request, **extra)


def joinable_projects(person) -> QuerySet:
    """Active projects (not institutes) the person is not in and has not asked to join."""
    return (
        Project.objects.filter(is_active=True, parent__isnull=False)
        .select_related("parent")
        .exclude(pk__in=ProjectMembership.objects.filter(person=person).values("project_id"))
        .exclude(
            pk__in=JoinRequest.objects.filter(person=person, state=State.PENDING).values(
                "project_id"
            )
        )
        .order_by("pid")
    )


def request_to_join(person, project: Project, message: str = "") -> JoinRequest:
    """Ask to join a project; its leaders and supervisors are told.

    Refused (ValidationError) when the person is already a member, already has a pending
    request for the project, or the project is inactive or an institute; refused
    (PermissionDenied) when the person may not act at all (locked, inactive, expired):
    their session should be gone already, this step does not rely on it."""
    policy.require_may_act(person, f'ask to join project "{project.pid}"')
    try:
        with transaction.atomic():
            request = save_validated(
                JoinRequest(person=person, project=project, message=message.strip())
            )
            mail.to_managers("join_requested", project, _context(request))
    except IntegrityError:
        # A second submission raced past clean(); the constraint kept one.
        raise ValidationError(
            f'{person} already asked to join project "{project.pid}"; that request is still '
            "pending."
        ) from None
    return request


def decidable(person) -> QuerySet:
    """Pending requests the person may decide (policy.can_manage_members on the project)."""
    return JoinRequest.objects.filter(
        state=State.PENDING, project__in=policy.managed_projects(person)
    )


def _manager(by, operator: bool) -> Callable[[JoinRequest], None]:
    def may(request: JoinRequest) -> None:
        require(
            operator or policy.can_manage_members(by, request.project),
            f"{by} may not decide requests to join {request.project.pid}.",
        )

    return may


def approve(
    request: JoinRequest,
    by,
    *,
    level: ProjectLevel | None = None,
    operator: bool = False,
) -> ProjectMembership:
    """Approve a pending request: the person becomes a member (project level `level`).

    Of two managers approving at once, one wins; the other is told who decided."""
    with deciding(request, _manager(by, operator), describe) as request:
        record(request, State.APPROVED, by)
        membership = add_member(
            request.project,
            request.person,
            level=level,
            default=None,
        )
        mail.to_person("join_approved", request.person, _context(request))
    return membership


def decline(request: JoinRequest, by, reason: str, *, operator: bool = False) -> JoinRequest:
    """Decline a pending request, telling the person why."""
    with deciding(request, _manager(by, operator), describe) as request:
        reason = reason_required(reason, f"request {request.ref}")
        record(request, State.DECLINED, by, reason=reason)
        mail.to_person("join_declined", request.person, _context(request))
    return request


def withdraw(request: JoinRequest, by, *, operator: bool = False) -> JoinRequest:
    """The requester takes back a pending request."""
    return take_back(
        request, by, owner="person", noun="request", describe=describe, operator=operator
    )
