"""Model base classes shared by every ledger app."""

from django.db import models


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
