"""Keeping unix groups consistent with the ledger.

Membership drives group membership, never the reverse: `sync_members` recomputes an
institute or project group from the project's memberships and applies the difference
row by row, so the audit log shows who joined and left the group and why.
"""

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Max

from allotment.core.unix import unix_name_from
from allotment.core.validation import save_validated

from .models import Group, GroupMember, Software


def next_free_gid() -> int:
    low, high = settings.ALLOTMENT_GID_RANGE
    current = Group.objects.filter(gid__gte=low, gid__lte=high).aggregate(m=Max("gid"))["m"]
    gid = low if current is None else current + 1
    if gid > high:
        used = set(Group.objects.filter(gid__gte=low, gid__lte=high).values_list("gid", flat=True))
        gid = next((g for g in range(low, high + 1) if g not in used), None)
        if gid is None:
            raise ValidationError(f"No free gid left in the range {low}-{high}.")
    return gid


def check_project_group_name(project) -> None:
    """Refuse a new project whose unix group could not be created under its name."""
    if project.pk is not None and project.group is not None:
        return
    name = unix_name_from(project.pid)
    taken = Group.objects.filter(name=name).first()
    if taken is not None:
        raise ValidationError(
            {
                "pid": f'Project "{project.pid}" would own the unix group "{name}", which is '
                f'already the group of "{taken.owner}"; choose another project id.'
            }
        )


def ensure_project_group(project, *, new: bool = False) -> Group:
    """The group a project or institute owns, created (named after its pid) if missing.

    `new` says the project was created a moment ago (its clean() checked the name), so it
    cannot own a group yet."""
    if not new:
        existing = project.group
        if existing is not None:
            return existing
        check_project_group_name(project)
    name = unix_name_from(project.pid)
    owner = {"institute": project} if project.parent_id is None else {"project": project}
    group = Group(name=name, gid=next_free_gid(), description=f"Members of {project.pid}", **owner)
    if new:
        # Every field is derived here (the name from a validated pid, a free gid, one owner)
        # and the database's constraints back them; a project created a moment ago has no
        # members to copy yet.
        group._owner_is_new = True
        group.save()
        return group
    # Saving the group syncs its members (groups.signals.group_saved).
    return save_validated(group)


def desired_members(group: Group) -> set[int]:
    project = group.institute or group.project
    return set(project.memberships.values_list("person_id", flat=True))


@transaction.atomic
def sync_members(group: Group) -> tuple[int, int]:
    """Make a membership-following group's members equal its project's; (added, removed)."""
    if not group.follows_memberships:
        return (0, 0)
    want = desired_members(group)
    have = set(group.memberships.values_list("person_id", flat=True))
    for person_id in want - have:
        GroupMember.objects.create(group=group, person_id=person_id)
    removed = 0
    for member in group.memberships.filter(person_id__in=have - want):
        member.delete()
        removed += 1
    return (len(want - have), removed)


def follow_owner_kind(project) -> None:
    """After a move, an institute that became a project (or back) keeps its group."""
    group = project.group
    if group is None:
        return
    if project.parent_id is None and group.project_id is not None:
        group.project, group.institute = None, project
    elif project.parent_id is not None and group.institute_id is not None:
        group.institute, group.project = None, project
    else:
        return
    save_validated(group)


def sync_project_group(project_id: int) -> None:
    group = (
        Group.objects.filter(project_id=project_id).first()
        or Group.objects.filter(institute_id=project_id).first()
    )
    if group is not None:
        sync_members(group)


def remove_member(member: GroupMember) -> None:
    """Take a person out of a software group. An institute's or project's group follows
    its memberships, so its members leave with their membership, never here."""
    group = member.group
    if group.follows_memberships:
        raise PermissionDenied(
            f'The members of group "{group}" follow the memberships of "{group.owner}": '
            "remove the person from the project instead."
        )
    member.delete()


def add_software_user(software: Software, person) -> GroupMember:
    """Grant a person a software package: membership of the package's group."""
    try:
        group = software.group
    except Group.DoesNotExist:
        raise ValidationError(f'Software "{software}" has no unix group yet.') from None
    return save_validated(GroupMember(group=group, person=person))
