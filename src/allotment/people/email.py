"""Changing one's own email: a link mailed to the new address proves it is theirs.

A verified email finds a person's invitations and signs them in through the institution,
so nobody may verify an address by typing it. The request stores the new address and the
SHA-256 hash of a random token (as invitations do: the link is the one copy of the
secret); the link goes to the new address only. Confirming needs the token and being
signed in as the person who asked, so whoever reads the new address's mail cannot move
somebody else's account onto it. A link works once, for CHANGE_VALID, and a newer request
replaces it. Site administrators set emails directly (the admin site, `allot person
set`): Person.set_email(..., verified=True).
"""

from __future__ import annotations

import secrets
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone

from allotment.access import policy
from allotment.applications import mail
from allotment.core.tokens import hash_token

from . import addresses
from .models import EmailChange, Person

CHANGE_VALID = timedelta(hours=48)
# Each request mails an address the person chose: a bound keeps the site from being used
# to send mail to strangers.
MAX_REQUESTS_PER_DAY = 5


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M %Z")


def pending(person: Person) -> EmailChange | None:
    """The person's open request, if any (the newest; older ones no longer work)."""
    return (
        EmailChange.objects.filter(
            person=person, confirmed_at__isnull=True, expires_at__gt=timezone.now()
        )
        .order_by("-created", "-pk")
        .first()
    )


def request_change(person: Person, email: str) -> tuple[EmailChange, str]:
    """Ask to change the person's email; returns the request and its token.

    The token travels only in the email to the new address; callers must not show it."""
    policy.require_may_act(person, "change their email")
    email = addresses.canonical(email)
    if not email:
        raise ValidationError({"email": "Give the new email address."})
    if len(email) > 254:
        raise ValidationError({"email": "An email address has at most 254 characters."})
    try:
        validate_email(email)
    except ValidationError:
        raise ValidationError({"email": f'"{email}" is not an email address.'}) from None
    return _request(person, email, "email_change")


def request_confirmation(person: Person) -> tuple[EmailChange, str]:
    """Ask the person to confirm the address they already have (a newcomer's, typed by
    whoever invited them): the same link and confirmation as a change, to that address.

    The token travels only in the email; callers must not show it."""
    policy.require_may_act(person, "change their email")
    if not person.email:
        raise ValidationError({"email": f"{person.username} has no email to confirm."})
    return _request(person, addresses.canonical(person.email), "email_confirm")


def _request(person: Person, email: str, template: str) -> tuple[EmailChange, str]:
    now = timezone.now()
    with transaction.atomic():
        # One request at a time per person, so the daily count below is exact.
        person = Person.objects.select_for_update().get(pk=person.pk)
        if person.email_verified and addresses.same(person.email, email):
            raise ValidationError({"email": f"{email} is already your verified email."})
        recent = EmailChange.objects.filter(person=person, created__gt=now - timedelta(days=1))
        if recent.count() >= MAX_REQUESTS_PER_DAY:
            again = recent.order_by("created").first().created + timedelta(days=1)
            raise ValidationError(
                {
                    "email": f"{person.username} asked for {MAX_REQUESTS_PER_DAY} email changes "
                    f"in the last 24 hours; try again after {_when(again)}."
                }
            )
        EmailChange.objects.filter(
            person=person, confirmed_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)  # the older link stops working
        token = secrets.token_urlsafe(32)
        change = EmailChange.objects.create(
            person=person,
            email=email,
            token_hash=hash_token(token),
            created=now,
            expires_at=now + CHANGE_VALID,
        )
        mail.send_later(
            template,
            [email],
            {"person": person, "change": change, "link": mail.url("web:email-confirm", token)},
        )
    return change, token


def find(token: str) -> EmailChange | None:
    return EmailChange.objects.select_related("person").filter(token_hash=hash_token(token)).first()


def refusal(change: EmailChange | None, person) -> str | None:
    """Why `person` cannot confirm this change, or None when they can.

    Someone else's link reads as an invalid one: it says nothing about whose it is."""
    if change is None or change.person_id != getattr(person, "pk", None):
        return (
            "This confirmation link is not valid for you: it may have been mistyped or cut "
            "short, or it confirms someone else's change. Sign in as the person who asked "
            "for the change, or ask again at /me/email/."
        )
    if change.confirmed_at is not None:
        used = _when(change.confirmed_at)
        return f"This link was already used: {change.email} was confirmed on {used}."
    if change.expires_at <= timezone.now():
        return (
            f"This link to confirm {change.email} no longer works (it expired, or a newer "
            "request replaced it); ask again at /me/email/."
        )
    return None


def confirm(token: str, person: Person) -> Person:
    """The signed-in person confirms with the link's token: the new email is theirs and
    verified. The old address is told, so a change nobody expected does not go unseen."""
    policy.require_may_act(person, "change their email")
    with transaction.atomic():
        found = find(token)
        change = (
            EmailChange.objects.select_for_update().get(pk=found.pk) if found is not None else None
        )
        problem = refusal(change, person)
        if problem:
            raise ValidationError({"token": problem})
        person = Person.objects.select_for_update().get(pk=person.pk)
        old = person.email
        person.set_email(change.email, verified=True)
        person.save(update_fields=["email", "email_verified"])
        now = timezone.now()
        change.confirmed_at = now
        change.save(update_fields=["confirmed_at"])
        EmailChange.objects.filter(
            person=person, confirmed_at__isnull=True, expires_at__gt=now
        ).update(expires_at=now)
        if old and not addresses.same(old, person.email):
            mail.send_later("email_changed", [old], {"person": person, "old": old})
    return person
