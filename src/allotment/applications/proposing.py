"""Applications for new projects: the institute's leaders, then a site administrator.

Stage 1 is decided by the institute's leaders (policy.can_lead on the institute). Stage 2,
when settings.ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN (default True) asks for it, by a site
administrator; a site administrator approving stage 1 has given that approval already.
Final approval creates the project under the institute and makes the applicant its leader.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from allotment.access import policy
from allotment.core.validation import save_validated
from allotment.projects.models import Project
from allotment.projects.services import add_member, create_project

from . import mail
from .deciding import deciding, reason_required, record, require, take_back
from .models import ProjectApplication

State = ProjectApplication.State


def admin_stage_required() -> bool:
    """ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN (settings.py reads it, default on)."""
    return settings.ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN


def describe(application: ProjectApplication) -> str:
    return (
        f'The application of {application.applicant} for project "{application.pid}" '
        f"({application.ref})"
    )


def _context(application: ProjectApplication, **extra) -> dict:
    return mail.with_links(application=application, **extra)


def institutes() -> QuerySet:
    return Project.objects.filter(parent__isnull=True, is_active=True).order_by("pid")


def apply(
    applicant, institute: Project, pid: str, name: str, description: str = ""
) -> ProjectApplication:
    """Apply for a new project; refused at once when the pid could never be created, and
    (PermissionDenied) when the applicant may not act at all (locked, inactive, expired):
    their session should be gone already, this step does not rely on it."""
    policy.require_may_act(applicant, f'apply for project "{pid}"')
    try:
        with transaction.atomic():
            application = save_validated(
                ProjectApplication(
                    applicant=applicant,
                    institute=institute,
                    pid=pid.strip(),
                    name=name.strip(),
                    description=description.strip(),
                )
            )
            mail.to_institute_leaders("project_applied", institute, _context(application))
    except IntegrityError:
        raise ValidationError(
            {"pid": f'Someone has just applied for a project "{pid}"; choose another id.'}
        ) from None
    return application


def decidable(person) -> QuerySet:
    """Open applications the person may decide now: stage 1 for the institute's leaders,
    stage 2 for site administrators (who may decide stage 1 too)."""
    if policy.is_site_admin(person):
        return ProjectApplication.objects.filter(state__in=ProjectApplication.OPEN_STATES)
    return ProjectApplication.objects.filter(
        Q(state=State.PENDING, institute_id__in=policy.led_project_ids(person))
    )


def _decider(by, operator: bool) -> Callable[[ProjectApplication], None]:
    """The check that `by` may decide the application's current stage."""

    def may(application: ProjectApplication) -> None:
        if operator:
            return
        if application.state == State.LEADER_APPROVED:
            require(
                policy.is_site_admin(by),
                f"Only a site administrator may decide {application.ref} now.",
            )
        else:
            require(
                policy.can_lead(by, application.institute_id),
                f"{by} may not decide applications under {application.institute.pid}.",
            )

    return may


def approve(application: ProjectApplication, by, *, operator: bool = False) -> ProjectApplication:
    """Approve the application's current stage; the last stage creates the project.

    If the pid was taken meanwhile the approval is refused and the application stays open."""
    with deciding(application, _decider(by, operator), describe) as application:
        now = timezone.now()
        final = (
            application.state == State.LEADER_APPROVED
            or operator
            or policy.is_site_admin(by)
            or not admin_stage_required()
        )
        if application.state == State.PENDING:
            application.leader_decided_by = by
            application.leader_decided_at = now
        if not final:
            application.state = State.LEADER_APPROVED
            save_validated(application)  # checks the pid again
            mail.to_site_admins("project_needs_admin", _context(application))
            mail.to_person("project_leader_approved", application.applicant, _context(application))
            return application
        application.full_clean()  # still open: the pid can still be created
        project = create_project(
            application.pid,
            application.name,
            parent=application.institute,
            description=application.description,
            approved_by=by,
            date_approved=now,
        )
        applicant = application.applicant
        add_member(
            project,
            applicant,
            leader=True,
            default=None,
        )
        record(application, State.APPROVED, by, moment=now, project=project)
        mail.to_person("project_approved", applicant, _context(application, project=project))
    return application


def decline(
    application: ProjectApplication, by, reason: str, *, operator: bool = False
) -> ProjectApplication:
    """Decline the application at its current stage, telling the applicant why."""
    with deciding(application, _decider(by, operator), describe) as application:
        reason = reason_required(reason, f"application {application.ref}")
        if application.state == State.PENDING:
            application.leader_decided_by = by
            application.leader_decided_at = timezone.now()
        record(application, State.DECLINED, by, reason=reason)
        mail.to_person("project_declined", application.applicant, _context(application))
    return application


def withdraw(application: ProjectApplication, by, *, operator: bool = False) -> ProjectApplication:
    """The applicant takes back an open application."""
    return take_back(
        application, by, owner="applicant", noun="application", describe=describe, operator=operator
    )
