"""The project tree, project levels and memberships.

Institutes are the roots of the project tree: an institute is a Project without a parent.
The tree is an adjacency list (`parent`) queried with recursive CTEs by
django-tree-queries, so a move is one changed field that the audit log records as such,
and a subtree is one query in the database.
"""

from collections.abc import Iterable
from datetime import date

from django.apps import apps
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import connections, models
from django.db.models import Q
from django.db.models.functions import Lower
from tree_queries.fields import TreeNodeForeignKey
from tree_queries.models import TreeNode
from tree_queries.query import TreeQuerySet

from allotment.core.models import LedgerModel, RankedLevel

# \A and \Z, not ^ and $: `$` also matches before a trailing "\n" (see core.unix).
pid_validator = RegexValidator(
    r"\A[A-Za-z0-9][A-Za-z0-9_.-]{0,63}\Z",
    "Enter a valid project id: letters, digits, '_', '.' or '-', starting with a letter or "
    "digit, at most 64 characters.",
)


class AllocationMode(models.TextChoices):
    PRIVATE = "private", "Private"
    SHARED = "shared", "Shared"
    CAPPED = "capped", "Capped"


class ProjectQuerySet(TreeQuerySet):
    def institutes(self):
        return self.filter(parent__isnull=True)

    def subtree(self, project: "Project | int"):
        """The project and all its descendants."""
        return self.descendants(project, include_self=True)

    def lineages(self, ids: "Iterable[int]") -> dict[int, tuple[int, str]]:
        """(depth, institute pid) of each project id, in one query however deep the tree.

        A recursive query walks up from just these projects, where django-tree-queries'
        tree fields would walk down the whole tree: a page of twenty projects costs the
        same on a site of ten projects or of ten thousand. Ids that name no project are
        left out (as would a project in a loop of parents, which clean() refuses; the
        depth bound only keeps such a loop from running forever).
        """
        ids = sorted(set(ids))
        if not ids:
            return {}
        connection = connections[self.db]
        table = connection.ops.quote_name(self.model._meta.db_table)
        marks = ", ".join(["%s"] * len(ids))
        sql = f"""
            WITH RECURSIVE up (start_id, node_id, parent_id, depth) AS (
                SELECT id, id, parent_id, 0 FROM {table} WHERE id IN ({marks})
                UNION ALL
                SELECT up.start_id, p.id, p.parent_id, up.depth + 1
                FROM {table} p JOIN up ON p.id = up.parent_id
                WHERE up.depth < 10000
            )
            SELECT up.start_id, up.depth, p.pid
            FROM up JOIN {table} p ON p.id = up.node_id
            WHERE up.parent_id IS NULL
        """  # only the table name and placeholders are formatted in
        with connection.cursor() as cursor:
            cursor.execute(sql, ids)
            return {start: (depth, pid) for start, depth, pid in cursor.fetchall()}


class Project(TreeNode, LedgerModel):
    parent = TreeNodeForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
        help_text="Empty for an institute (the root of a tree).",
    )
    pid = models.CharField(
        "project id",
        max_length=64,
        unique=True,
        validators=[pid_validator],
        help_text="Fixed once created: change it with `allot project set-pid`.",
    )
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    allocation_mode = models.CharField(
        max_length=16,
        choices=AllocationMode.choices,
        default=AllocationMode.PRIVATE,
        help_text="Private: only this project draws on its allocations. Shared: this project "
        "and all its sub-projects draw on them. Capped: each sub-project may draw on them up "
        "to its cap per resource pool.",
    )
    is_active = models.BooleanField("active", default=True)
    start_date = models.DateField(default=date.today)
    end_date = models.DateField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approved_projects",
    )
    date_approved = models.DateTimeField(null=True, blank=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["pid"]
        constraints = [
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="project_ends_after_start",
            ),
            models.CheckConstraint(
                condition=~Q(parent=models.F("pk")), name="project_not_own_parent"
            ),
            # Batch systems fold account names to lower case (Slurm does), so two pids that
            # differ only in case could not be told apart there.
            models.UniqueConstraint(Lower("pid"), name="project_pid_unique_ignoring_case"),
        ]

    clean_covers = (
        "project_ends_after_start",
        "project_not_own_parent",
        "project_pid_unique_ignoring_case",
    )

    def __str__(self) -> str:
        return self.pid

    @property
    def is_institute(self) -> bool:
        return self.parent_id is None

    @property
    def institute(self) -> "Project":
        """The root of this project's tree."""
        if self.parent_id is None:
            return self
        return Project.objects.ancestors(self).filter(parent__isnull=True).get()

    @property
    def group(self):
        """The unix group this project or institute owns, if any."""
        from allotment.groups.models import Group

        return Group.objects.filter(Q(project=self) | Q(institute=self)).first()

    def clean(self) -> None:
        errors: dict[str, list[str]] = {}
        if self.parent_id is not None and self.pk is not None:
            if self.parent_id == self.pk:
                errors.setdefault("parent", []).append(
                    f'Project "{self.pid}" cannot be its own parent.'
                )
            elif (
                Project.objects.ancestors(self.parent_id, include_self=True)
                .filter(pk=self.pk)
                .exists()
            ):
                parent = Project.objects.get(pk=self.parent_id)
                errors.setdefault("parent", []).append(
                    f'Project "{self.pid}" cannot move under "{parent.pid}": "{parent.pid}" is '
                    f'inside the subtree of "{self.pid}", and a project cannot become its own '
                    "ancestor."
                )
        if self.pk is not None and self.parent_id is not None and "parent" not in errors:
            self._check_institute_can_become_project(errors)
        if self.pk is not None and not getattr(self, "_pid_change_allowed", False):
            stored = Project.objects.filter(pk=self.pk).values_list("pid", flat=True).first()
            if stored is not None and stored != self.pid:
                errors.setdefault("pid", []).append(
                    f'The project id of "{stored}" cannot be edited; change it explicitly with '
                    f"`allot project set-pid {stored} {self.pid}`."
                )
        if self.pid and self.pid.lower() == "root":
            errors.setdefault("pid", []).append(
                'The project id "root" is reserved: batch systems (Slurm) name the top of '
                "their account tree so."
            )
        if self.pid:
            clash = (
                Project.objects.filter(pid__iexact=self.pid)
                .exclude(pid=self.pid)
                .exclude(pk=self.pk)
                .first()
            )
            if clash is not None:
                errors.setdefault("pid", []).append(
                    f'The project id "{self.pid}" differs from the existing "{clash.pid}" only '
                    "in case; batch systems could not tell them apart."
                )
        if self.end_date and self.start_date and self.end_date < self.start_date:
            errors.setdefault("end_date", []).append(
                f'Project "{self.pid}" cannot end ({self.end_date}) before it starts '
                f"({self.start_date})."
            )
        if self.pk is None and not errors.get("pid"):
            from allotment.groups.services import check_project_group_name

            try:
                check_project_group_name(self)
            except ValidationError as e:
                errors.setdefault("pid", []).extend(e.message_dict["pid"])
        if errors:
            raise ValidationError(errors)

    def _check_institute_can_become_project(self, errors: dict[str, list[str]]) -> None:
        """An institute with people of its own cannot be moved under another project: their
        institute would no longer be one."""
        was_institute = Project.objects.filter(pk=self.pk, parent__isnull=True).exists()
        if not was_institute:
            return
        people = list(
            apps.get_model("people", "Person")
            .objects.filter(institute_id=self.pk)
            .order_by("username")
            .values_list("username", flat=True)[:6]
        )
        if people:
            named = ", ".join(people[:5]) + (", ..." if len(people) > 5 else "")
            errors.setdefault("parent", []).append(
                f'Institute "{self.pid}" cannot move under another project while people belong '
                f"to it ({named}); give them another institute first."
            )


class ProjectLevel(RankedLevel):
    """A person's standing within a project (e.g. chief investigator, researcher, student)."""


class ProjectMembership(LedgerModel):
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    project_level = models.ForeignKey(
        ProjectLevel, null=True, blank=True, on_delete=models.PROTECT, related_name="memberships"
    )
    is_leader = models.BooleanField("leader", default=False)
    is_supervisor = models.BooleanField("supervisor", default=False)
    is_default_project = models.BooleanField("default project", default=False)
    is_primary_contact = models.BooleanField("primary contact", default=False)
    date_joined = models.DateField(default=date.today)

    class Meta:
        ordering = ["project__pid", "person__username"]
        constraints = [
            models.UniqueConstraint(fields=["person", "project"], name="membership_once"),
            models.UniqueConstraint(
                fields=["person"],
                condition=Q(is_default_project=True),
                name="membership_one_default_project",
            ),
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(is_primary_contact=True),
                name="membership_one_primary_contact",
            ),
        ]

    clean_covers = (
        "membership_once",
        "membership_one_default_project",
        "membership_one_primary_contact",
    )

    def __str__(self) -> str:
        return f"{self.person} in {self.project}"

    def clean(self) -> None:
        if self.person_id is None or self.project_id is None:
            return
        others = ProjectMembership.objects.exclude(pk=self.pk)
        errors = []
        if others.filter(person_id=self.person_id, project_id=self.project_id).exists():
            errors.append(f'{self.person} is already a member of project "{self.project}".')
        if self.is_default_project:
            current = others.filter(person_id=self.person_id, is_default_project=True).first()
            if current:
                errors.append(
                    f'{self.person} already has a default project ("{current.project}"); a person '
                    "has at most one default project."
                )
        if self.is_primary_contact:
            current = others.filter(project_id=self.project_id, is_primary_contact=True).first()
            if current:
                errors.append(
                    f'Project "{self.project}" already has a primary contact ({current.person}); '
                    "a project has at most one primary contact."
                )
        if errors:
            raise ValidationError(errors)
