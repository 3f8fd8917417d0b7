"""Who may see and do what: the one permission model of the pages, the API and workflows.

Roles come from the ledger itself, not from Django groups, so that granting someone a role
is the same act as recording it (a membership flag), and the audit log shows it:

- a *site administrator* (an active person with `is_superuser` or `is_staff`) sees and
  does everything;
- a *leader* of a project acts on its whole subtree (an institute leader is the leader of
  a root project): sees it, manages its members, creates sub-projects, approves
  applications, and sees its institute's people;
- a *supervisor* of a project manages that project's members and sees its usage;
- a *member* sees their projects, those projects' members and usage, and their own data;
- anyone signed in sees their own profile; anonymous people see nothing.

Every function answers with a queryset or a bool built from a handful of queries, so a
list endpoint filters in the database and never loops over objects in Python.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import Q, QuerySet

from allotment.core.compiled import CompiledQuery
from allotment.people.models import unexpired
from allotment.projects.models import Project, ProjectMembership

if TYPE_CHECKING:
    from allotment.people.models import Person


def signed_in(person) -> bool:
    """Authenticated, active, not locked and not past their expiry date: a person who may act
    at all. An expired person is treated as a locked one, without anyone having to lock them."""
    return (
        person is not None
        and getattr(person, "is_authenticated", False)
        and person.is_active
        and not getattr(person, "is_locked", False)
        and not getattr(person, "has_expired", False)
    )


def require_may_act(person, doing: str) -> None:
    """Refuse a workflow step to someone who may not act at all (locked, inactive, expired).

    Their session should be gone already (the sign-in backends refuse them); the steps do
    not rely on it."""
    from django.core.exceptions import PermissionDenied

    if not signed_in(person):
        raise PermissionDenied(
            f"{person} may not {doing}: only a signed-in person who is active, not locked and "
            "not past their expiry date may."
        )


def is_site_admin(person) -> bool:
    return signed_in(person) and (person.is_superuser or person.is_staff)


def may_act_q() -> Q:
    """signed_in() as a condition on Person rows (every stored person is authenticated)."""
    return Q(is_active=True, is_locked=False) & unexpired()


def site_admins() -> QuerySet:
    """The people is_site_admin() names, by username."""
    from allotment.people.models import Person

    return Person.objects.filter(may_act_q(), Q(is_superuser=True) | Q(is_staff=True)).order_by(
        "username"
    )


def _cache(person, key: str, compute):
    """Per-request memo on the person object: a page asks the same question many times."""
    store = person.__dict__.setdefault("_access_cache", {})
    if key not in store:
        store[key] = compute()
    return store[key]


def memberships(person) -> list[tuple[int, bool, bool]]:
    """(project id, leader, supervisor) of each of the person's memberships: one query, without
    the model's ordering (which would join projects and people) and cached for the request."""
    if not signed_in(person):
        return []
    return _cache(person, "memberships", lambda: _MEMBERSHIPS.rows(person=person.pk))


# Asked on nearly every request: compiled once (core.compiled).
_MEMBERSHIPS = CompiledQuery(
    lambda person: (
        ProjectMembership.objects.filter(person_id=person)
        .order_by()
        .values_list("project_id", "is_leader", "is_supervisor")
    ),
    person=-7_000_001,
)


def led_project_ids(person) -> frozenset[int]:
    """Projects whose leader the person is, with their whole subtrees."""
    if not signed_in(person):
        return frozenset()

    def compute():
        roots = [project for project, leader, _ in memberships(person) if leader]
        if not roots:
            return frozenset()
        ids: set[int] = set()
        for root in roots:
            if root not in ids:
                ids.update(Project.objects.subtree(root).values_list("pk", flat=True))
        return frozenset(ids)

    return _cache(person, "led", compute)


def managed_project_ids(person) -> frozenset[int] | None:
    """Projects whose members the person may manage; None means every project."""
    if is_site_admin(person):
        return None
    if not signed_in(person):
        return frozenset()

    def compute():
        supervised = (project for project, _, supervisor in memberships(person) if supervisor)
        return led_project_ids(person) | frozenset(supervised)

    return _cache(person, "managed", compute)


def visible_project_ids(person) -> frozenset[int] | None:
    """Projects the person may see (page, members, grants, usage); None means all."""
    if is_site_admin(person):
        return None
    if not signed_in(person):
        return frozenset()

    def compute():
        own = (project for project, _, _ in memberships(person))
        return managed_project_ids(person) | frozenset(own)

    return _cache(person, "visible", compute)


def led_institute_ids(person) -> frozenset[int]:
    """Institutes (roots) inside the person's led subtrees: their people are visible."""
    led = led_project_ids(person)
    if not led:
        return frozenset()

    def compute():
        roots = Project.objects.filter(pk__in=led, parent__isnull=True)
        return frozenset(roots.values_list("pk", flat=True))

    return _cache(person, "led_institutes", compute)


def _filter_ids(queryset: QuerySet, ids: frozenset[int] | None, field: str) -> QuerySet:
    if ids is None:
        return queryset
    return queryset.filter(**{f"{field}__in": ids})


def visible_projects(person, queryset: QuerySet | None = None) -> QuerySet:
    queryset = Project.objects.all() if queryset is None else queryset
    return _filter_ids(queryset, visible_project_ids(person), "pk")


def of_visible_projects(person, queryset: QuerySet, field: str = "project_id") -> QuerySet:
    """Rows of the projects the person may see (grants, pools, allocations): `field` names
    the project's id on the queryset's model."""
    return _filter_ids(queryset, visible_project_ids(person), field)


def visible_groups(person, queryset: QuerySet | None = None) -> QuerySet:
    """Unix groups of the projects and institutes the person may see; software groups (of
    neither) only for site administrators."""
    from allotment.groups.models import Group

    queryset = Group.objects.all() if queryset is None else queryset
    ids = visible_project_ids(person)
    if ids is None:
        return queryset
    return queryset.filter(Q(project_id__in=ids) | Q(institute_id__in=ids))


def managed_projects(person, queryset: QuerySet | None = None) -> QuerySet:
    queryset = Project.objects.all() if queryset is None else queryset
    return _filter_ids(queryset, managed_project_ids(person), "pk")


def can_view_project(person, project: Project | int) -> bool:
    ids = visible_project_ids(person)
    return ids is None or _pk(project) in ids


def can_manage_members(person, project: Project | int) -> bool:
    ids = managed_project_ids(person)
    return ids is None or _pk(project) in ids


# A membership's role flags: who leads the project, manages its members, speaks for it.
# Supervisors manage members but hand out no roles, their own included.
MEMBERSHIP_ROLE_FIELDS = frozenset({"is_leader", "is_supervisor", "is_primary_contact"})


def membership_refusal(
    person,
    project: Project,
    *,
    membership: ProjectMembership | None = None,
    fields=(),
    removing: bool = False,
) -> str | None:
    """Why `person` may not add, change or remove a membership of `project`; None if they may.

    `membership` is the existing one changed or removed (None for an addition). A leader's
    membership needs leader rights over the project for any change or its removal (a
    supervisor could otherwise demote the leader, or move their default Slurm account).
    `fields` are those the write sets (for an addition, those set true): setting or clearing
    a role flag needs leader rights, and so does removing a membership that holds one, which
    takes the role back.
    """
    if not can_manage_members(person, project):
        return f'You may not manage the members of "{project.pid}".'
    if can_lead(person, project):
        return None
    member = membership.person.username if membership is not None else None
    if membership is not None and membership.is_leader:
        return (
            f'Only leaders of "{project.pid}" may change or remove the membership of its '
            f"leader {member}."
        )
    all_roles = ", ".join(sorted(MEMBERSHIP_ROLE_FIELDS))
    if removing and membership is not None:
        held = [name for name in sorted(MEMBERSHIP_ROLE_FIELDS) if getattr(membership, name)]
        if held:
            return (
                f'Only leaders of "{project.pid}" may remove {member}, whose membership holds '
                f"{', '.join(held)}: removing it takes back the role ({all_roles} are the "
                "leaders' to hand out and take back)."
            )
        return None
    roles = sorted(set(fields) & MEMBERSHIP_ROLE_FIELDS)
    if roles:
        plural = "s" if len(roles) > 1 else ""
        return (
            f"You may not change the field{plural} {', '.join(roles)}: only leaders of "
            f'"{project.pid}" may hand out or take back its roles ({all_roles}).'
        )
    return None


def member_managers(project: Project | int) -> QuerySet:
    """The people who manage the project's members through a membership (the leaders of the
    project and of every project above it, and its supervisors), by username; the site
    administrators, who manage every project's members, are not among them."""
    from allotment.people.models import Person

    above = Project.objects.ancestors(project, include_self=True).values("pk")
    roles = ProjectMembership.objects.filter(
        Q(project_id__in=above, is_leader=True) | Q(project_id=_pk(project), is_supervisor=True)
    )
    return Person.objects.filter(may_act_q(), pk__in=roles.values("person_id")).order_by("username")


def can_lead(person, project: Project | int) -> bool:
    """Leader rights (create sub-projects, approve applications) over the project."""
    return is_site_admin(person) or _pk(project) in led_project_ids(person)


def visible_people(person, queryset: QuerySet | None = None) -> QuerySet:
    """Oneself, the members of visible projects, and the people of led institutes."""
    from allotment.people.models import Person

    queryset = Person.objects.all() if queryset is None else queryset
    if is_site_admin(person):
        return queryset
    if not signed_in(person):
        return queryset.none()
    projects = visible_project_ids(person)
    member_ids = ProjectMembership.objects.filter(project_id__in=projects).values("person_id")
    return queryset.filter(
        Q(pk=person.pk) | Q(pk__in=member_ids) | Q(institute_id__in=led_institute_ids(person))
    )


def can_view_person(person, other: Person | int) -> bool:
    if signed_in(person) and _pk(other) == person.pk:
        return True
    return visible_people(person).filter(pk=_pk(other)).exists()


# Which fields of a person whom may write. A person's email is no one's but the site
# administrators' to write: it is how OIDC sign-in and invitations find a person, so it
# changes only through the verified flow (a link sent to the new address), never by a PATCH.
PERSON_NAME_FIELDS = frozenset({"title", "first_name", "last_name"})
# Whether and until when a person may act: a leader's lever over their institute's people,
# never over a site administrator's or a co-leader's (nor their own).
PERSON_STATE_FIELDS = frozenset({"is_active", "is_locked", "expires", "date_approved"})
LEADER_PERSON_FIELDS = PERSON_NAME_FIELDS | {"career_level"} | PERSON_STATE_FIELDS
EMAIL_CHANGE_FLOW = (
    "an email address changes only through the verified flow: POST /api/email-change/ "
    "(or the page /me/email/) sends a link to the new address."
)


def _is_administrator(other) -> bool:
    """Holds the administrators' flags, whether or not they may act today: a leader who could
    unlock or re-date a locked administrator could hand the site's keys to anyone."""
    return bool(other.is_superuser or other.is_staff)


def leads_a_project(other: Person | int) -> bool:
    """Whether `other` leads any project. Their account state is the site administrators'
    alone: a leader locking a fellow leader, in their own tree or another's (the person may
    belong to this institute and lead a project elsewhere), would take over what that
    leader manages."""
    return ProjectMembership.objects.filter(person_id=_pk(other), is_leader=True).exists()


def _leads_institute_of(person, other: Person) -> bool:
    return other.institute_id is not None and other.institute_id in led_institute_ids(person)


def person_fields(person, other: Person) -> frozenset[str] | None:
    """The fields of `other` that `person` may write; None means every field (a site
    administrator).

    Leaders of the person's institute write their name, career level and account state,
    except a site administrator's (nothing at all) and the account state of anyone who
    leads a project (themselves included); everyone writes their own name. The email is
    the administrators' alone, and a superuser is changed only by superusers (a staff
    member who set a superuser's email could sign in as them).
    """
    if is_site_admin(person):
        if other.is_superuser and not person.is_superuser and other.pk != person.pk:
            return frozenset()
        return None
    if not signed_in(person) or _is_administrator(other):
        return frozenset()
    if _leads_institute_of(person, other):
        if other.pk == person.pk or leads_a_project(other):
            return LEADER_PERSON_FIELDS - PERSON_STATE_FIELDS
        return LEADER_PERSON_FIELDS
    if other.pk == person.pk:
        return PERSON_NAME_FIELDS
    return frozenset()


def person_fields_refusal(person, other: Person, fields) -> str | None:
    """Why `person` may not change these fields of `other`, naming each refused field (so a
    script knows what to drop); None when they may change them all."""
    allowed = person_fields(person, other)
    if allowed is None:
        return None
    refused = sorted(set(fields) - allowed)
    if not refused:
        return None
    reasons: list[str] = []
    rest = set(refused)
    if is_site_admin(person):
        reasons.append(f"{other.username} is a superuser, whom only superusers may change.")
        rest.clear()
    elif _is_administrator(other) and other.pk != person.pk:
        reasons.append(
            f"{other.username} is a site administrator, whom only site administrators may change."
        )
        rest.clear()
    elif not allowed:
        reasons.append(
            f"only site administrators and leaders of {other.username}'s institute may change "
            f"{other.username}."
        )
        rest.clear()
    if "email" in rest:
        reasons.append(EMAIL_CHANGE_FLOW)
        rest.discard("email")
    if rest & PERSON_STATE_FIELDS and _leads_institute_of(person, other):
        state = ", ".join(sorted(PERSON_STATE_FIELDS))
        reasons.append(
            f"only site administrators may change your own account state ({state})."
            if other.pk == person.pk
            else f"{other.username} leads a project; only site administrators may change "
            f"their account state ({state})."
        )
        rest -= PERSON_STATE_FIELDS
    if rest:
        reasons.append(f"you may change only {', '.join(sorted(allowed))}.")
    why = " ".join(reason[0].upper() + reason[1:] if n else reason
                   for n, reason in enumerate(reasons))  # fmt: skip
    plural = "s" if len(refused) > 1 else ""
    return f"You may not change the field{plural} {', '.join(refused)}: {why}"


def can_edit_person(person, other: Person) -> bool:
    """Whether `person` may write any field of `other` (person_fields says which)."""
    return person_fields(person, other) != frozenset()


def visible_memberships(person, queryset: QuerySet | None = None) -> QuerySet:
    queryset = ProjectMembership.objects.all() if queryset is None else queryset
    if is_site_admin(person):
        return queryset
    if not signed_in(person):
        return queryset.none()
    return queryset.filter(Q(project_id__in=visible_project_ids(person)) | Q(person_id=person.pk))


def visible_usage(person, queryset: QuerySet) -> QuerySet:
    """Usage facts (DailyUsage, MonthlyUsage, Job): of visible projects, or one's own.

    Facts are filtered on the project that submitted them, and, for the projects whose
    pools were charged, on the charged project too: a leader sees what sub-projects drew
    from their pool.
    """
    if is_site_admin(person):
        return queryset
    if not signed_in(person):
        return queryset.none()
    ids = visible_project_ids(person)
    fields = {f.name for f in queryset.model._meta.get_fields()}
    condition = Q(person_id=person.pk)
    if "submitted_project" in fields:
        condition |= Q(submitted_project_id__in=ids) | Q(charged_project_id__in=ids)
    else:
        condition |= Q(project_id__in=ids)
    return queryset.filter(condition)


def _pk(obj) -> int:
    return obj if isinstance(obj, int) else obj.pk
