"""Changes to the project tree and its memberships, shared by the admin, API and CLI."""

from django.core.exceptions import ValidationError
from django.db import transaction

from allotment.core.validation import save_validated

from .models import AllocationMode, Project, ProjectLevel, ProjectMembership


def get_project(pid: str) -> Project:
    try:
        return Project.objects.get(pid=pid)
    except Project.DoesNotExist:
        raise ValidationError(f'There is no project "{pid}".') from None


def create_project(
    pid: str,
    name: str,
    parent: Project | None = None,
    allocation_mode: str = AllocationMode.PRIVATE,
    description: str = "",
    **fields,
) -> Project:
    """A new project (or institute, without a parent), with its unix group."""
    return save_validated(
        Project(
            pid=pid,
            name=name,
            parent=parent,
            allocation_mode=allocation_mode,
            description=description,
            **fields,
        )
    )


@transaction.atomic
def move_project(project: Project, new_parent: Project | None) -> Project:
    """Re-parent a project (None makes it an institute); refuses to create a cycle."""
    project.parent = new_parent
    return save_validated(project)


@transaction.atomic
def set_pid(project: Project, new_pid: str) -> Project:
    """Change a project id: the one explicit way to do it, recorded in the audit log."""
    from allotment.core.unix import unix_name_from
    from allotment.groups.models import Group

    old = project.pid
    group = project.group
    rename_group = group is not None and group.name == unix_name_from(old)
    pid_free = not Project.objects.filter(pid=new_pid).exclude(pk=project.pk).exists()
    if rename_group and pid_free:
        taken = Group.objects.filter(name=unix_name_from(new_pid)).exclude(pk=group.pk).first()
        if taken is not None:
            raise ValidationError(
                {
                    "pid": f'Project "{old}" cannot become "{new_pid}": its unix group would be '
                    f'renamed "{taken.name}", which is already the group of "{taken.owner}".'
                }
            )
    project.pid = new_pid
    project._pid_change_allowed = True
    try:
        save_validated(project)
    finally:
        project._pid_change_allowed = False
    if rename_group:
        group.name = unix_name_from(new_pid)
        save_validated(group)
    return project


def add_member(
    project: Project,
    person,
    *,
    level: ProjectLevel | None = None,
    leader: bool = False,
    supervisor: bool = False,
    default: bool | None = False,
    primary_contact: bool = False,
    **fields,
) -> ProjectMembership:
    """Add a person to a project. `default`: whether it becomes their default project;
    None makes it so when they have no default project yet (their first membership)."""
    if default is None:
        default = not person.memberships.filter(is_default_project=True).exists()
    return save_validated(
        ProjectMembership(
            project=project,
            person=person,
            project_level=level,
            is_leader=leader,
            is_supervisor=supervisor,
            is_default_project=default,
            is_primary_contact=primary_contact,
            **fields,
        )
    )


def remove_member(project: Project, person) -> None:
    """Remove a person from a project; refuses a non-member, since reporting success for a
    removal that changed nothing hides a mistyped name or project."""
    deleted, _ = ProjectMembership.objects.filter(project=project, person=person).delete()
    if not deleted:
        raise ValidationError(f"{person.username} is not a member of {project.pid}.")
