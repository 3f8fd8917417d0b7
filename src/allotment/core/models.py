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
