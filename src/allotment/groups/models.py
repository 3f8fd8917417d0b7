"""Unix groups and the software catalogue.

Every group has exactly one owner: an institute, a project or a software package. The
database enforces it with a check constraint. The members of an institute's or a
project's group are derived from that project's memberships (see services.py); only a
software group's members are edited directly.
"""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from allotment.core.models import LedgerModel
from allotment.core.unix import unix_name_validator


class Software(models.Model):
    """A licensed or restricted package whose users are kept in a unix group."""

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    homepage = models.URLField(blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "software"

    def __str__(self) -> str:
        return self.name


OWNER_FIELDS = ("institute", "project", "software")


def _only(field: str) -> Q:
    return Q(**{f"{f}__isnull": f != field for f in OWNER_FIELDS})


class Group(LedgerModel):
    name = models.CharField(
        "unix name", max_length=32, unique=True, validators=[unix_name_validator]
    )
    gid = models.PositiveIntegerField("gid", unique=True)
    description = models.TextField(blank=True)
    institute = models.OneToOneField(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="institute_group",
    )
    project = models.OneToOneField(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="project_group",
    )
    software = models.OneToOneField(
        Software, null=True, blank=True, on_delete=models.CASCADE, related_name="group"
    )
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="GroupMember", related_name="unix_groups", blank=True
    )

    class Meta:
        ordering = ["name"]
        verbose_name = "unix group"
        constraints = [
            models.CheckConstraint(
                condition=_only("institute") | _only("project") | _only("software"),
                name="group_has_exactly_one_owner",
            )
        ]

    clean_covers = ("group_has_exactly_one_owner",)

    def __str__(self) -> str:
        return self.name

    @property
    def owner(self):
        return self.institute or self.project or self.software

    @property
    def owner_kind(self) -> str | None:
        for field in OWNER_FIELDS:
            if getattr(self, f"{field}_id") is not None:
                return field
        return None

    @property
    def follows_memberships(self) -> bool:
        """Members of institute and project groups come from memberships, never by hand."""
        return self.institute_id is not None or self.project_id is not None

    def clean(self) -> None:
        owners = [f for f in OWNER_FIELDS if getattr(self, f"{f}_id") is not None]
        if len(owners) != 1:
            named = ", ".join(owners) if owners else "none"
            raise ValidationError(
                f'Group "{self.name}" must have exactly one owner (an institute, a project or a '
                f"software package); it has {len(owners)} ({named})."
            )
        if self.institute_id is not None and self.institute.parent_id is not None:
            raise ValidationError(
                {
                    "institute": f'Group "{self.name}": "{self.institute.pid}" is a project, not '
                    "an institute; set it as the group's project instead."
                }
            )
        if self.project_id is not None and self.project.parent_id is None:
            raise ValidationError(
                {
                    "project": f'Group "{self.name}": "{self.project.pid}" is an institute; set '
                    "it as the group's institute instead."
                }
            )


class GroupMember(LedgerModel):
    group = models.ForeignKey(Group, on_delete=models.CASCADE, related_name="memberships")
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="group_memberships"
    )

    class Meta:
        ordering = ["group__name", "person__username"]
        constraints = [
            models.UniqueConstraint(fields=["group", "person"], name="group_member_once")
        ]

    clean_covers = ("group_member_once",)

    def __str__(self) -> str:
        return f"{self.person} in {self.group}"

    def clean(self) -> None:
        if self.group_id is None or self.person_id is None:
            return
        if (
            GroupMember.objects.exclude(pk=self.pk)
            .filter(group_id=self.group_id, person_id=self.person_id)
            .exists()
        ):
            raise ValidationError(f'{self.person} is already in group "{self.group}".')
        if self.group.follows_memberships:
            owner = self.group.owner
            raise ValidationError(
                f'Group "{self.group}" follows the memberships of "{owner}": add or remove '
                f'{self.person} as a member of "{owner}" instead of editing the group.'
            )
