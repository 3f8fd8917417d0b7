"""Model base classes shared by every ledger app."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.utils import timezone

if TYPE_CHECKING:
    from allotment.core.fsm import Machine


class LedgerModel(models.Model):
    """A ledger table whose rules live in clean() and are backed by database constraints.

    Database constraints guarantee the rules whatever writes the row; clean() states the
    same rules with messages that name the objects involved. `clean_covers` lists the
    constraint names clean() already checks, so full_clean() reports each problem once.
    """

    clean_covers: tuple[str, ...] = ()

    class Meta:
        abstract = True

    def get_constraints(self):
        return [
            (model, [c for c in constraints if c.name not in self.clean_covers])
            for model, constraints in super().get_constraints()
        ]


class RankedLevel(models.Model):
    """A named rung on a site's ladder, listed by rank: a career level (student, postdoc,
    professor) or a project level (chief investigator, researcher, student).

    Declared once for both. They stay two tables because they are two vocabularies a site
    edits separately, and a person's career level must never be one of the project levels
    (two foreign keys to two tables make that impossible rather than checked)."""

    name = models.CharField(max_length=100, unique=True)
    rank = models.PositiveSmallIntegerField(default=0, help_text="Lower ranks are listed first.")
    description = models.TextField(blank=True)

    class Meta:
        abstract = True
        ordering = ["rank", "name"]

    def __str__(self) -> str:
        return self.name


class Stateful(models.Model):
    """A row that moves through a long workflow declared by a `core.fsm.Machine`.

    The fields are not editable in forms: `core.fsm.move` is the one writer, so every change
    is checked against the declaration and leaves a `StateChange`. The step fields say which
    step an agent was inside (and which agent), so a restart can tell an object whose step
    was cut short from one merely waiting for its next tick.
    """

    machine: ClassVar[type[Machine]]

    state = models.CharField(max_length=40, db_index=True, editable=False)
    target_state = models.CharField(
        max_length=40, blank=True, editable=False, help_text="The stable state it is heading for."
    )
    state_changed_at = models.DateTimeField(default=timezone.now, editable=False)
    last_error = models.TextField(blank=True, editable=False)
    step = models.CharField(
        max_length=100, blank=True, editable=False, help_text="The step an agent is inside."
    )
    step_owner = models.CharField(max_length=200, blank=True, editable=False)
    step_started_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        self.take_initial_state()
        super().save(*args, **kwargs)

    def take_initial_state(self) -> None:
        """A new row starts in its machine's initial state (call it before a bulk insert,
        which does not go through save)."""
        if not self.state:
            self.state = self.machine.initial
            self.target_state = self.machine.states[self.state].target


class StateChange(models.Model):
    """One move of a stateful object, written by `core.fsm.move` in the same transaction.

    The audit log already records the object's changed fields; this row adds what only the
    mechanism knows (the event, the reason an operator reads) in a table pages can list per
    object without parsing audit entries. Rows outlive the object they describe.
    """

    content_type = models.ForeignKey(ContentType, on_delete=models.CASCADE, related_name="+")
    object_id = models.PositiveBigIntegerField()
    obj = GenericForeignKey("content_type", "object_id")
    from_state = models.CharField(max_length=40)
    to_state = models.CharField(max_length=40)
    event = models.CharField(max_length=40)
    reason = models.TextField(blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    via = models.CharField(max_length=20, blank=True, help_text="agent, cli, api, web…")
    at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["content_type", "object_id", "at"], name="core_statechange_object")
        ]

    def __str__(self) -> str:
        return f"{self.from_state} → {self.to_state} ({self.event})"
