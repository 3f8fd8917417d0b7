"""What every decision shares: who decided, the row lock, and the refusals' words.

A decision is taken on the row locked with SELECT ... FOR UPDATE inside the step's
transaction: of two managers approving at the same moment, the second waits for the first
to commit, then finds the row no longer pending and is told who decided it. (On SQLite the
settings open every transaction with BEGIN IMMEDIATE, which serialises writers the same
way.) The state is then changed with an ordinary save, so the audit log records it with its
actor like any other change.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.utils import timezone


def who(by) -> str:
    """How a decider is named in messages: the person, or the command line's operator."""
    return str(by) if by is not None else "an operator at the command line"


def when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "an unknown time"


def require(allowed: bool, message: str) -> None:
    """Refuse a step the person may not take (views answer 404 before it gets here)."""
    if not allowed:
        raise PermissionDenied(message)


def lock(model: type[models.Model], pk: int) -> models.Model:
    """The row, locked until the surrounding transaction ends; call inside atomic()."""
    return model.objects.select_for_update().get(pk=pk)


def closed(description: str, state_label: str, by, moment) -> ValidationError:
    """The refusal for a step on something already decided, naming who decided it."""
    return ValidationError(
        f"{description} was already {state_label.lower()} by {who(by)} on {when(moment)}."
    )


def reason_required(reason: str, description: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError(
            {"reason": f"Give a reason for declining {description}: the applicant is told it."}
        )
    return reason
