"""Stored usage follows the ledger: a new pool, cap, mode, parent or period re-charges it
(see recharge.py), in the same transaction as the change."""

from django.db.models.signals import post_delete, post_save, pre_save
from django.dispatch import receiver

from allotment.grants.models import AllocationCap, AllocationPeriod, AllocationPool
from allotment.projects.models import Project

from .recharge import reassign_institutes, recharge, recharge_period


def _subtree(project_id: int) -> list[int]:
    return list(Project.objects.subtree(project_id).values_list("pk", flat=True))


@receiver(post_save, sender=AllocationPool, dispatch_uid="recharge_on_pool_saved")
@receiver(post_delete, sender=AllocationPool, dispatch_uid="recharge_on_pool_deleted")
def pool_changed(sender, instance: AllocationPool, raw: bool = False, **kw):
    if raw or isinstance(kw.get("origin"), Project):
        return
    if Project.objects.filter(pk=instance.project_id).exists():
        recharge_period(instance.period, _subtree(instance.project_id))


@receiver(post_save, sender=AllocationCap, dispatch_uid="recharge_on_cap_saved")
@receiver(post_delete, sender=AllocationCap, dispatch_uid="recharge_on_cap_deleted")
def cap_changed(sender, instance: AllocationCap, raw: bool = False, **kw):
    if raw or isinstance(kw.get("origin"), Project):
        return
    if Project.objects.filter(pk=instance.project_id).exists():
        recharge(_subtree(instance.project_id))


@receiver(pre_save, sender=Project, dispatch_uid="remember_project_charging")
def remember(sender, instance: Project, raw: bool = False, **kw):
    if raw or instance.pk is None:
        instance._charging_before = None
        return
    instance._charging_before = (
        Project.objects.filter(pk=instance.pk).values_list("parent_id", "allocation_mode").first()
    )


@receiver(post_save, sender=Project, dispatch_uid="recharge_on_project_moved")
def project_saved(sender, instance: Project, created: bool, raw: bool = False, **kw):
    before = getattr(instance, "_charging_before", None)
    if raw or created or before is None:
        return
    if before != (instance.parent_id, instance.allocation_mode):
        subtree = _subtree(instance.pk)
        if before[0] != instance.parent_id:
            reassign_institutes(subtree)
        recharge(subtree)


@receiver(post_save, sender=AllocationPeriod, dispatch_uid="recharge_on_period_saved")
@receiver(post_delete, sender=AllocationPeriod, dispatch_uid="recharge_on_period_deleted")
def period_changed(sender, instance: AllocationPeriod, raw: bool = False, **kw):
    if not raw:
        recharge()
