"""People (Allotment's user model) and their career levels."""

from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.contrib.auth.validators import UnicodeUsernameValidator
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone


class CareerLevel(models.Model):
    """Where a person stands in their career (student, postdoc, professor ...), for reports."""

    name = models.CharField(max_length=100, unique=True)
    rank = models.PositiveSmallIntegerField(default=0, help_text="Lower ranks are listed first.")
    description = models.TextField(blank=True)

    class Meta:
        ordering = ["rank", "name"]

    def __str__(self) -> str:
        return self.name


def unexpired() -> models.Q:
    """Person.has_expired, negated, as a condition on Person rows."""
    return models.Q(expires__isnull=True) | models.Q(expires__gte=timezone.localdate())


class PersonManager(BaseUserManager):
    use_in_migrations = True

    def _create(self, username: str, email: str | None, password: str | None, **fields):
        if not username:
            raise ValueError("A person needs a username.")
        person = self.model(username=username, email=self.normalize_email(email or ""), **fields)
        person.set_password(password)
        person.save(using=self._db)
        return person

    def create_user(self, username: str, email: str | None = None, password=None, **fields):
        fields.setdefault("is_staff", False)
        fields.setdefault("is_superuser", False)
        return self._create(username, email, password, **fields)

    def create_superuser(self, username: str, email: str | None = None, password=None, **fields):
        fields.setdefault("is_staff", True)
        fields.setdefault("is_superuser", True)
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
