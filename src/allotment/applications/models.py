"""What people ask for and are offered: join requests, invitations, project applications.

Each is a row with a `state` that only moves forward (pending → a final state), so the row
is its own history and the audit log shows every step with its actor. The state changes
live in services.py; the database backs the rules that must hold whatever writes the row
(one pending join request per person and project, one stored hash per invitation token,
one open application per pid).
"""

from django.conf import settings
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.db import models
from django.db.models import Q
from django.utils import timezone

from allotment.core.models import LedgerModel


def _state(states: type[models.TextChoices]) -> models.CharField:
    return models.CharField(max_length=16, choices=states.choices, default=states.PENDING)


def _someone(related_name: str = "+") -> models.ForeignKey:
    """Who took a step; the row keeps its history if their account is deleted."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name=related_name,
    )


def _moment() -> models.DateTimeField:
    return models.DateTimeField(null=True, blank=True)


def _reason() -> models.TextField:
    return models.TextField(blank=True, help_text="Why it was declined.")


class Decidable(LedgerModel):
    """What the three kinds share (methods only: each declares its own fields, in its own
    order): the reference (J12, I3, P5), newest first, and who decided and when."""

    REF_PREFIX: str
    OPEN_STATES: tuple[str, ...] = ("pending",)

    class Meta:
        abstract = True
        ordering = ["-created", "-pk"]

    @property
    def ref(self) -> str:
        return f"{self.REF_PREFIX}{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.state in self.OPEN_STATES

    def decision_fields(self, state: str) -> tuple[str, str]:
        """The fields that name who moved the row to `state`, and when."""
        return "decided_by", "decided_at"

    def decision(self) -> tuple:
        """Who decided the row (None: an operator) and when."""
        by, at = self.decision_fields(self.state)
        return getattr(self, by), getattr(self, at)


class JoinRequest(Decidable):
    """A signed-in person asks to become a member of a project; its managers decide."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="join_requests"
    )
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="join_requests"
    )
    message = models.TextField(blank=True, help_text="Why the person asks to join.")
    state = _state(State)
    created = models.DateTimeField(default=timezone.now)
    decided_by = _someone()
    decided_at = _moment()
    reason = _reason()

    REF_PREFIX = "J"

    class Meta(Decidable.Meta):
        constraints = [
            models.UniqueConstraint(
                fields=["person", "project"],
                condition=Q(state="pending"),
                name="join_request_one_pending",
            )
        ]

    clean_covers = ("join_request_one_pending",)

    def __str__(self) -> str:
        return f"{self.ref}: {self.person.username} asks to join {self.project.pid}"

    def clean(self) -> None:
        """A pending request must be one someone could approve: an active project the person
        is not yet in, and no other pending request of theirs for it."""
        if self.state != self.State.PENDING or self.person_id is None or self.project_id is None:
            return
        from allotment.projects.models import ProjectMembership

        errors = []
        if not self.project.is_active:
            errors.append(f'Project "{self.project.pid}" is not active; nobody can join it.')
        if self.project.is_institute:
            errors.append(
                f'"{self.project.pid}" is an institute, not a project; ask to join one of '
                "its projects instead."
            )
        if ProjectMembership.objects.filter(
            person_id=self.person_id, project_id=self.project_id
        ).exists():
            errors.append(f'{self.person} is already a member of project "{self.project.pid}".')
        other = (
            JoinRequest.objects.filter(
                person_id=self.person_id, project_id=self.project_id, state=self.State.PENDING
            )
            .exclude(pk=self.pk)
            .first()
        )
        if other is not None:
            errors.append(
                f'{self.person} already asked to join project "{self.project.pid}" '
                f"({other.ref}, {other.created:%Y-%m-%d}); that request is still pending."
            )
        if errors:
            raise ValidationError(errors)


class Invitation(Decidable):
    """A project's manager invites someone, by email, to become a member.

    Only the SHA-256 hash of the secret token is stored: the link in the email is the only
    copy of the token, so a reader of the database (or of a backup) cannot accept for the
    invitee.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        ACCEPTED = "accepted", "Accepted"
        REVOKED = "revoked", "Revoked"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="invitations"
    )
    email = models.EmailField()
    project_level = models.ForeignKey(
        "projects.ProjectLevel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="invitations",
    )
    message = models.TextField(blank=True)
    invited_by = _someone("invitations_sent")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    state = _state(State)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    accepted_by = _someone("invitations_accepted")
    accepted_at = _moment()
    revoked_by = _someone()
    revoked_at = _moment()

    REF_PREFIX = "I"

    def __str__(self) -> str:
        return f"{self.ref}: {self.email} invited to {self.project.pid}"

    def decision_fields(self, state: str) -> tuple[str, str]:
        """accepted_by/accepted_at, or revoked_by/revoked_at."""
        return f"{state}_by", f"{state}_at"

    @property
    def is_expired(self) -> bool:
        return self.state == self.State.PENDING and self.expires_at <= timezone.now()

    @property
    def status(self) -> str:
        """The state as a person sees it: a pending invitation past its date is expired."""
        return "expired" if self.is_expired else self.state

    def clean(self) -> None:
        if self.state != self.State.PENDING or self.project_id is None:
            return
        if not self.project.is_active:
            raise ValidationError(
                f'Project "{self.project.pid}" is not active; nobody can be invited to it.'
            )


class ProjectApplication(Decidable):
    """A signed-in person applies for a new project under an institute.

    Stage 1: the institute's leaders decide (state pending). Stage 2, when the site asks for
    it (ALLOTMENT_PROJECT_APPROVAL_BY_ADMIN): a site administrator decides (state
    leader_approved). Final approval creates the project, led by the applicant.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Waiting for the institute's leaders"
        LEADER_APPROVED = "leader_approved", "Waiting for a site administrator"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"
        WITHDRAWN = "withdrawn", "Withdrawn"

    OPEN_STATES = (State.PENDING, State.LEADER_APPROVED)

    applicant = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="project_applications"
    )
    institute = models.ForeignKey(
        "projects.Project",
        on_delete=models.PROTECT,
        related_name="project_applications",
        help_text="The institute (a root project) the new project will belong to.",
    )
    pid = models.CharField("project id", max_length=64)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    state = _state(State)
    created = models.DateTimeField(default=timezone.now)
    leader_decided_by = _someone()
    leader_decided_at = _moment()
    decided_by = _someone()
    decided_at = _moment()
    reason = _reason()
    project = models.OneToOneField(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="application",
        help_text="The project created on approval.",
    )

    REF_PREFIX = "P"

    class Meta(Decidable.Meta):
        constraints = [
            models.UniqueConstraint(
                models.functions.Lower("pid"),
                condition=Q(state__in=["pending", "leader_approved"]),
                name="project_application_one_open_per_pid",
            )
        ]

    clean_covers = ("project_application_one_open_per_pid",)

    def __str__(self) -> str:
        return f"{self.ref}: {self.applicant.username} applies for {self.pid}"

    def clean(self) -> None:
        """An open application must still be one that can become a project: checked when it
        is made and again when it is approved, since someone may take the pid meanwhile."""
        if not self.is_open:
            return
        errors: dict[str, list[str]] = {}
        if self.institute_id is not None and not self.institute.is_institute:
            errors.setdefault("institute", []).append(
                f'"{self.institute.pid}" is a project, not an institute (institutes are the '
                "roots of the project tree)."
            )
        if self.pid:
            other = (
                ProjectApplication.objects.filter(pid__iexact=self.pid, state__in=self.OPEN_STATES)
                .exclude(pk=self.pk)
                .first()
            )
            if other is not None:
                errors.setdefault("pid", []).append(
                    f'{other.applicant} has already applied for a project "{other.pid}" '
                    f"({other.ref}); choose another project id."
                )
        if not errors:
            self._check_project_could_be_created(errors)
        if errors:
            raise ValidationError(errors)

    def _check_project_could_be_created(self, errors: dict[str, list[str]]) -> None:
        """Run the Project model's own rules on the project this application would create."""
        from allotment.projects.models import Project

        taken = Project.objects.filter(pid__iexact=self.pid).first() if self.pid else None
        if taken is not None:
            errors.setdefault("pid", []).append(
                f'The project id "{self.pid}" is already taken by project "{taken.pid}"; '
                "choose another project id."
            )
            return
        project = Project(
            pid=self.pid,
            name=self.name,
            description=self.description,
            parent_id=self.institute_id,
        )
        try:
            project.full_clean()
        except ValidationError as e:
            for field, messages in e.message_dict.items():
                mine = field if field in ("pid", "name", "description") else NON_FIELD_ERRORS
                errors.setdefault(mine, []).extend(messages)
