"""Invitations: a project's manager invites someone by email; the link makes them a member.

The token is `secrets.token_urlsafe(32)` (256 random bits) and only its SHA-256 hash is
stored, so the link in the email is the one copy of the secret. A plain hash suffices (no
salt, no slow hash): the token is random, not a password someone chose.
"""

from __future__ import annotations

import secrets
from datetime import date, timedelta

from auditlog.context import set_actor
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from allotment.access import policy
from allotment.core.tokens import hash_token
from allotment.core.validation import save_validated
from allotment.people import addresses
from allotment.people import email as email_check
from allotment.people.models import Person
from allotment.projects.models import Project, ProjectLevel, ProjectMembership
from allotment.projects.services import add_member

from . import mail
from .deciding import deciding, lock, record, require, when, who
from .models import Invitation

State = Invitation.State


class AddressTaken(ValidationError):
    """Accepting as a newcomer with an address an existing person holds: the invitee has
    an account already (pages send them to sign in and accept as themselves)."""


def invitation_days() -> int:
    """How long a link works: ALLOTMENT_INVITATION_DAYS (settings.py reads it, default 14)."""
    return settings.ALLOTMENT_INVITATION_DAYS


def describe(invitation: Invitation) -> str:
    return (
        f'The invitation of {invitation.email} to project "{invitation.project.pid}" '
        f"({invitation.ref})"
    )


def invite(
    project: Project,
    email: str,
    by,
    *,
    level: ProjectLevel | None = None,
    message: str = "",
    operator: bool = False,
) -> tuple[Invitation, str]:
    """Invite `email` to the project; returns the invitation and its token (for the link).

    Refused when someone with that email is already a member, or an invitation to it is
    still open."""
    require(
        operator or policy.can_manage_members(by, project),
        f"{by} may not invite people to {project.pid}.",
    )
    email = addresses.canonical(email)
    member = addresses.matching(Person.objects.filter(memberships__project=project), email).first()
    if member is not None:
        raise ValidationError(
            {"email": f'{member} ({email}) is already a member of project "{project.pid}".'}
        )
    open_one = _open(project, email).first()
    if open_one is not None:
        raise ValidationError(
            {
                "email": f'{email} was already invited to project "{project.pid}" '
                f"({open_one.ref}, by {who(open_one.invited_by)}, until "
                f"{when(open_one.expires_at)}); revoke that invitation to send a new one."
            }
        )
    token = secrets.token_urlsafe(32)
    now = timezone.now()
    with transaction.atomic():
        invitation = save_validated(
            Invitation(
                project=project,
                email=email,
                project_level=level,
                message=message.strip(),
                invited_by=by,
                token_hash=hash_token(token),
                created=now,
                expires_at=now + timedelta(days=invitation_days()),
            )
        )
        mail.send_later(
            "invitation",
            [email],
            {"invitation": invitation, "link": mail.url("applications:invitation", token)},
        )
    return invitation, token


def _open(project: Project, email: str) -> QuerySet:
    return addresses.matching(
        Invitation.objects.filter(
            project=project, state=State.PENDING, expires_at__gt=timezone.now()
        ),
        email,
    )


def find(token: str) -> Invitation | None:
    """The invitation a link's token stands for, if any."""
    return (
        Invitation.objects.select_related("project", "invited_by", "project_level")
        .filter(token_hash=hash_token(token))
        .first()
    )


def refusal(invitation: Invitation | None) -> str | None:
    """Why the invitation cannot be accepted, or None when it can."""
    if invitation is None:
        return (
            "This invitation link is not valid: it may have been mistyped or cut short. "
            "Ask the person who invited you for a new one."
        )
    if invitation.state == State.ACCEPTED:
        return (
            f'This invitation to project "{invitation.project.pid}" was already accepted by '
            f"{who(invitation.accepted_by)} on {when(invitation.accepted_at)}."
        )
    if invitation.state == State.REVOKED:
        return (
            f'This invitation to project "{invitation.project.pid}" was revoked by '
            f"{who(invitation.revoked_by)} on {when(invitation.revoked_at)}."
        )
    if invitation.is_expired:
        return (
            f'This invitation to project "{invitation.project.pid}" expired on '
            f"{when(invitation.expires_at)}; ask {who(invitation.invited_by)} for a new one."
        )
    return None


def _claim(token: str) -> Invitation:
    """The invitation, locked, if it can still be accepted; else a ValidationError."""
    found = find(token)
    invitation = lock(Invitation, found.pk) if found is not None else None
    problem = refusal(invitation)
    if problem:
        raise ValidationError(problem)
    return invitation


def _accept(invitation: Invitation, person) -> ProjectMembership:
    project = invitation.project
    if ProjectMembership.objects.filter(project=project, person=person).exists():
        raise ValidationError(f'{person} is already a member of project "{project.pid}".')
    record(invitation, State.ACCEPTED, person)
    membership = add_member(
        project,
        person,
        level=invitation.project_level,
        default=None,
    )
    if invitation.invited_by is not None:
        mail.to_person(
            "invitation_accepted",
            invitation.invited_by,
            {"invitation": invitation, "person": person},
        )
    return membership


def accept(token: str, person) -> ProjectMembership:
    """A signed-in person accepts: they become a member. Accepting twice is refused."""
    policy.require_may_act(person, "accept invitations")
    with transaction.atomic():
        return _accept(_claim(token), person)


def accept_as_new_person(
    token: str,
    *,
    username: str,
    password: str,
    first_name: str = "",
    last_name: str = "",
    title: str = "",
) -> Person:
    """Someone without an account accepts: a person is created (the invited email, the
    project's institute) and made a member, in one transaction.

    The email starts unverified and a confirmation link is mailed to it: the link to the
    invitation proves nothing, since whoever invited holds it too (the API answers it), so
    a verified address here would let any inviter give an account of theirs an address of
    their choosing (and with it that address's invitations and institutional sign-in).
    An address another person already holds is refused (AddressTaken): its owner signs in
    and accepts as themselves, and no second holder blocks their sign-in by email."""
    with transaction.atomic():
        invitation = _claim(token)
        email = addresses.canonical(invitation.email)
        if addresses.matching(Person.objects.all(), email).exists():
            raise AddressTaken(
                {
                    "email": f"{email}, the address this invitation was sent to, belongs to an "
                    "existing account: sign in and accept as yourself."
                }
            )
        person = Person(
            username=username.strip(),
            title=title.strip(),
            first_name=first_name.strip(),
            last_name=last_name.strip(),
            email=email,
            email_verified=False,
            institute=invitation.project.institute,
            date_approved=date.today(),
        )
        try:
            validate_password(password, person)
        except ValidationError as e:
            raise ValidationError({"password": e.messages}) from None
        person.set_password(password)
        save_validated(person)
        # The newcomer is who accepted: name them in the audit log for the rest of the step.
        with set_actor(person):
            _accept(invitation, person)
            email_check.request_confirmation(person)
    return person


def revoke(invitation: Invitation, by, *, operator: bool = False) -> Invitation:
    """Withdraw an open invitation: its link stops working."""

    def may(invitation: Invitation) -> None:
        require(
            operator or policy.can_manage_members(by, invitation.project),
            f"{by} may not revoke invitations to {invitation.project.pid}.",
        )

    with deciding(invitation, may, describe) as invitation:
        record(invitation, State.REVOKED, by)
    return invitation


def addressed_to(person) -> QuerySet:
    """Open invitations to the person's email, once verified: an address anyone may type
    into their profile must not reveal invitations to projects they cannot see. Matched by
    canonical form (people.addresses), never by the database's Unicode case folding."""
    if not (person.email and person.email_verified):
        return Invitation.objects.none()
    return addresses.matching(Invitation.objects.filter(state=State.PENDING), person.email)


def outstanding(person) -> QuerySet:
    """Open invitations to the projects whose members the person manages (to revoke)."""
    return Invitation.objects.filter(
        state=State.PENDING,
        expires_at__gt=timezone.now(),
        project__in=policy.managed_projects(person),
    )
