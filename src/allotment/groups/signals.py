"""Derived state that must follow whatever path changed the ledger (admin, CLI, API).

A project gets its unix group when it is created; a membership change is reflected in the
project's group in the same transaction.
"""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from allotment.projects.models import Project, ProjectMembership

from . import services
from .models import Group


@receiver(post_save, sender=Project, dispatch_uid="project_group_follows_project")
def project_saved(sender, instance: Project, created: bool, raw: bool = False, **kw):
    if raw:
        return
    if created:
        services.ensure_project_group(instance, new=True)
    else:
        # An institute moved under a project (or a project made a root) keeps its group.
        services.follow_owner_kind(instance)


@receiver(post_save, sender=ProjectMembership, dispatch_uid="group_follows_membership_save")
@receiver(post_delete, sender=ProjectMembership, dispatch_uid="group_follows_membership_delete")
def membership_changed(sender, instance: ProjectMembership, raw: bool = False, **kw):
    # A project deleted with its memberships takes its group along; nothing to sync then.
    if raw or isinstance(kw.get("origin"), Project):
        return
    services.sync_project_group(instance.project_id)


@receiver(post_save, sender=Group, dispatch_uid="group_follows_owner_change")
def group_saved(sender, instance: Group, raw: bool = False, **kw):
    if not raw and instance.follows_memberships and not getattr(instance, "_owner_is_new", False):
        services.sync_members(instance)
