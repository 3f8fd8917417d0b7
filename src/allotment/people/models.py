"""People (Allotment's user model) and their career levels."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from allotment.core.models import RankedLevel

from . import addresses


class CareerLevel(RankedLevel):
    """Where a person stands in their career (student, postdoc, professor ...), for reports."""


def unexpired() -> models.Q:
    """Person.has_expired, negated, as a condition on Person rows."""
    return models.Q(expires__isnull=True) | models.Q(expires__gte=timezone.localdate())


class PersonManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, username: str, email: str | None, password: str | None, **fields):
        if not username:
            raise ValueError("A person needs a username.")
        verified = fields.pop("email_verified", False)
        person = self.model(username=username, **fields)
        person.set_email(email or "", verified=verified)
        person.set_password(password)
        person.save(using=self._db)
        return person

    def create_user(self, username: str, email: str | None = None, password=None, **fields):
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(username, email, password, **fields)

    def create_superuser(self, username: str, email: str | None = None, password=None, **fields):
        """Run by someone at the site's shell, a site administrator: their email stands."""
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
        fields.setdefault("email_verified", True)
        return self._create(username, email, password, **fields)


class Person(AbstractBaseUser, PermissionsMixin):
    username = models.CharField(
        max_length=150,
        unique=True,
        validators=[UnicodeUsernameValidator()],
        error_messages={"unique": "A person with that username already exists."},
    )
    title = models.CharField(max_length=30, blank=True)
    first_name = models.CharField(max_length=150, blank=True)
    last_name = models.CharField(max_length=150, blank=True)
    email = models.EmailField(blank=True)
    email_verified = models.BooleanField(
        "email verified",
        default=False,
        help_text="The person showed they receive mail at this address, or a site "
        "administrator set it. Only a verified email finds their invitations or signs "
        "them in through the institution's sign-in.",
    )
    institute = models.ForeignKey(
        "projects.Project",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="people",
        help_text="The institute (a root project) this person belongs to.",
    )
    career_level = models.ForeignKey(
        CareerLevel, null=True, blank=True, on_delete=models.PROTECT, related_name="people"
    )
    is_active = models.BooleanField(
        "active", default=True, help_text="Inactive people keep their history but have left."
    )
    is_locked = models.BooleanField(
        "locked",
        default=False,
        help_text="A locked person cannot sign in or log in to any machine.",
    )
    is_staff = models.BooleanField(
        "site staff", default=False, help_text="May sign in to the admin site."
    )
    date_joined = models.DateTimeField(default=timezone.now)
    date_approved = models.DateField(null=True, blank=True)
    expires = models.DateField(null=True, blank=True)

    objects = PersonManager()

    USERNAME_FIELD = "username"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["email"]

    class Meta:
        ordering = ["username"]
        verbose_name = "person"
        verbose_name_plural = "people"

    @classmethod
    def from_db(cls, db, field_names, values):
        person = super().from_db(db, field_names, values)
        person._stored_email = person.__dict__.get("email")
        return person

    def refresh_from_db(self, using=None, fields=None, from_queryset=None) -> None:
        super().refresh_from_db(using=using, fields=fields, from_queryset=from_queryset)
        if fields is None or "email" in fields:
            self._stored_email = self.__dict__.get("email")

    def set_email(self, email: str, *, verified: bool) -> None:
        """The one way to keep an email verified across a change: say who vouches for it.

        Any other write of `email` (a form, a serializer, a plain assignment) is saved as
        unverified, so an address nobody proved cannot find invitations or sign anyone in.
        The address is stored in its canonical form (people.addresses), the one lookups
        compare: a ValidationError on `email` when it has none."""
        self.email = addresses.canonical(email)
        self.email_verified = bool(verified and self.email)
        self._vouched_email = self.email if self.email_verified else None

    def save(self, *args, **kwargs) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "email" in update_fields:
            if self._email_unvouched():
                self.email_verified = False
                if update_fields is not None:
                    kwargs["update_fields"] = {*update_fields, "email_verified"}
            super().save(*args, **kwargs)
            self._stored_email = self.email
        else:
            super().save(*args, **kwargs)
        self._vouched_email = None

    def _email_unvouched(self) -> bool:
        """Whether this save would keep `email_verified` on an address nobody vouched for:
        a blank email, or a changed one that did not come through set_email()."""
        if not self.email_verified:
            return False
        if not self.email:
            return True
        if self._state.adding:
            return False  # a new person's fields are as the code creating them set them
        changed = self.email != getattr(self, "_stored_email", None)
        return changed and self.email != getattr(self, "_vouched_email", None)

    def __str__(self) -> str:
        name = self.get_full_name()
        return f"{name} ({self.username})" if name else self.username

    def get_full_name(self) -> str:
        return " ".join(p for p in (self.first_name, self.last_name) if p)

    def get_short_name(self) -> str:
        return self.first_name or self.username

    @property
    def has_expired(self) -> bool:
        """Past its `expires` date (the last day the person may act): treated as locked."""
        return self.expires is not None and self.expires < timezone.localdate()

    def clean(self) -> None:
        super().clean()
        if self.institute_id is not None and self.institute.parent_id is not None:
            raise ValidationError(
                {
                    "institute": f'{self} cannot belong to "{self.institute.pid}": it is a '
                    "project, not an institute (institutes are the roots of the project tree)."
                }
            )


class EmailChange(models.Model):
    """A person asked to change their email to `email`; a link mailed there confirms it.

    Only the SHA-256 hash of the link's token is kept, as for invitations. A request is
    used once: confirming sets `confirmed_at`; a newer request replaces an older one."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="email_changes")
    email = models.EmailField(help_text="The address asked for, not yet confirmed.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    confirmed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        verbose_name = "email change"

    def __str__(self) -> str:
        return f"{self.person.username} → {self.email}"
