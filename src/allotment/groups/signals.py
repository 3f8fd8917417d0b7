"""Derived state that must follow whatever path changed the ledger (admin, CLI, API).

A project gets its unix group when it is created; a membership change is reflected in the
project's group in the same transaction.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from allotment.projects.models import Project, ProjectMembership

from . import services
from .models import Group


@receiver(post_save, sender=Project, dispatch_uid="project_group_on_create")
def create_project_group(sender, instance: Project, created: bool, raw: bool = False, **kw):
    if created and not raw:
        services.ensure_project_group(instance)


@receiver(post_save, sender=ProjectMembership, dispatch_uid="group_follows_membership_save")
@receiver(post_delete, sender=ProjectMembership, dispatch_uid="group_follows_membership_delete")
def membership_changed(sender, instance: ProjectMembership, raw: bool = False, **kw):
    if raw:
        return
    project_id = instance.project_id
    # A project deleted with its memberships takes its group along; nothing to sync then.
    if Project.objects.filter(pk=project_id).exists():
        services.sync_project_group(project_id)


@receiver(post_save, sender=Group, dispatch_uid="group_follows_owner_change")
def group_saved(sender, instance: Group, raw: bool = False, **kw):
    if not raw and instance.follows_memberships:
        services.sync_members(instance)
