"""The one way to change applications: the pages, the CLI and the API call these.

The workflows live in joining.py (join requests), inviting.py (invitations) and
proposing.py (new projects); this module names them for callers and adds what works on
any of them: looking one up by its reference (J12, I3, P5), approve, decline, withdraw.

Every step takes `by`, the person acting, and checks their right through access.policy;
`operator=True` is the command line's authority (shell access to the site is a site
administrator's), where `by` may be None.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

from allotment.access import policy

from . import inviting, joining, proposing
from .models import Invitation, JoinRequest, ProjectApplication

# Re-exported: the workflows' own steps.
request_to_join = joining.request_to_join
joinable_projects = joining.joinable_projects
invite = inviting.invite
find_invitation = inviting.find
invitation_refusal = inviting.refusal
accept_invitation = inviting.accept
accept_invitation_as_new_person = inviting.accept_as_new_person
AddressTaken = inviting.AddressTaken
revoke_invitation = inviting.revoke
apply_for_project = proposing.apply
institutes = proposing.institutes
admin_stage_required = proposing.admin_stage_required

Application = JoinRequest | Invitation | ProjectApplication

KINDS: dict[str, type[Application]] = {
    model.REF_PREFIX: model for model in (JoinRequest, Invitation, ProjectApplication)
}
REF = re.compile(r"^\s*([JIPjip])-?(\d+)\s*$")


def find(ref: str) -> Application:
    """The join request, invitation or project application named by its reference."""
    match = REF.match(ref)
    if match is None:
        raise ValidationError(
            f'"{ref}" is not a reference: use J<n> for a join request, I<n> for an '
            "invitation, P<n> for a project application (as `allot application list` shows)."
        )
    model = KINDS[match.group(1).upper()]
    found = model.objects.filter(pk=int(match.group(2))).first()
    if found is None:
        raise ValidationError(f"There is no {model._meta.verbose_name} {ref.strip().upper()}.")
    return found


def approve(application: Application, by, *, operator: bool = False, **options):
    """Approve a join request (options: level) or a project application's current stage."""
    if isinstance(application, JoinRequest):
        return joining.approve(application, by, operator=operator, **options)
    if isinstance(application, ProjectApplication):
        return proposing.approve(application, by, operator=operator)
    raise ValidationError(
        f"{application.ref} is an invitation: the invitee accepts it through the link in "
        "their email; it can only be revoked."
    )


def decline(application: Application, by, reason: str, *, operator: bool = False):
    """Decline a join request or project application, with the reason the applicant reads."""
    if isinstance(application, JoinRequest):
        return joining.decline(application, by, reason, operator=operator)
    if isinstance(application, ProjectApplication):
        return proposing.decline(application, by, reason, operator=operator)
    return inviting.revoke(application, by, operator=operator)


def withdraw(application: Application, by, *, operator: bool = False):
    """The applicant withdraws a request or application; for an invitation, revoke it."""
    if isinstance(application, JoinRequest):
        return joining.withdraw(application, by, operator=operator)
    if isinstance(application, ProjectApplication):
        return proposing.withdraw(application, by, operator=operator)
    return inviting.revoke(application, by, operator=operator)


def decidable_join_requests(person):
    return joining.decidable(person)


def decidable_project_applications(person):
    return proposing.decidable(person)


def outstanding_invitations(person):
    return inviting.outstanding(person)


def can_decide(person, application: Application) -> bool:
    """Whether the person may decide (or, for an invitation, revoke) it now."""
    if isinstance(application, JoinRequest):
        return decidable_join_requests(person).filter(pk=application.pk).exists()
    if isinstance(application, ProjectApplication):
        return decidable_project_applications(person).filter(pk=application.pk).exists()
    return policy.can_manage_members(person, application.project_id)


def of_person(person) -> dict[str, list]:
    """Everything a person has asked for or been offered, newest first, for 'My
    applications'."""
    return {
        "join_requests": list(
            JoinRequest.objects.filter(person=person).select_related("project", "decided_by")
        ),
        "project_applications": list(
            ProjectApplication.objects.filter(applicant=person).select_related(
                "institute", "decided_by", "project"
            )
        ),
        "invitations": list(
            (
                Invitation.objects.filter(accepted_by=person) | inviting.addressed_to(person)
            ).select_related("project", "invited_by")
        ),
    }
