"""Who hears about each step, and the emails they get.

Mail goes out only once the step's transaction commits (transaction.on_commit): a step
that is rolled back (a refused approval, a lost race) tells nobody anything. Each email is
a template under templates/applications/email/ whose first line is the subject.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse

from allotment.access import policy
from allotment.people.models import Person
from allotment.projects.models import Project


def site_url(path: str) -> str:
    """An absolute link for an email: the site's address and a path on it."""
    return f"{settings.SITE_URL}{path}"


def url(name: str, *args) -> str:
    return site_url(reverse(name, args=args))


def with_links(**context) -> dict:
    """An email's context, with the links to the inbox and to "My applications"."""
    return {
        "inbox_link": url("applications:inbox"),
        "mine_link": url("applications:mine"),
        **context,
    }


def send_later(template: str, recipients: Iterable[str], context: dict) -> None:
    """Render the email now (the objects are as the step left them) and send it on commit,
    one message per recipient so nobody sees the others' addresses."""
    recipients = sorted({r for r in recipients if r})
    if not recipients:
        return
    text = render_to_string(f"applications/email/{template}.txt", context)
    subject, _, body = text.strip().partition("\n")

    def send() -> None:
        for recipient in recipients:
            EmailMessage(
                subject.strip(), body.strip() + "\n", settings.DEFAULT_FROM_EMAIL, [recipient]
            ).send()

    transaction.on_commit(send)


def _emails(people) -> list[str]:
    return [p.email for p in people if p.email]


def site_admins():
    return policy.site_admins()


def member_managers(project: Project):
    """Who is told about a join request: those policy.member_managers names (the leaders of
    the project and of every project above it, and its supervisors); the site
    administrators hear only when nobody else would."""
    people = policy.member_managers(project)
    return people if people.exists() else site_admins()


def institute_leaders(institute: Project):
    people = Person.objects.filter(
        policy.may_act_q(), memberships__project=institute, memberships__is_leader=True
    ).order_by("username")
    return people if people.exists() else site_admins()


def to_managers(template: str, project: Project, context: dict) -> None:
    send_later(template, _emails(member_managers(project)), context)


def to_institute_leaders(template: str, institute: Project, context: dict) -> None:
    send_later(template, _emails(institute_leaders(institute)), context)


def to_site_admins(template: str, context: dict) -> None:
    send_later(template, _emails(site_admins()), context)


def to_person(template: str, person: Person | None, context: dict) -> None:
    if person is not None:
        send_later(template, [person.email], context)
