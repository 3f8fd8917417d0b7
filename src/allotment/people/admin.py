from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.forms import UserChangeForm, UserCreationForm

from allotment.core.admin import LedgerAdmin, RankedLevelAdmin
from allotment.projects.models import ProjectMembership
from allotment.resources.models import Account

from .models import CareerLevel, EmailChange, Person


class PersonMembershipInline(admin.TabularInline):
    model = ProjectMembership
    fk_name = "person"
    extra = 0
    autocomplete_fields = ["project"]
    fields = [
        "project",
        "project_level",
        "is_leader",
        "is_supervisor",
        "is_primary_contact",
        "is_default_project",
        "date_joined",
    ]


class AccountInline(admin.TabularInline):
    model = Account
    extra = 0
    fields = [
        "machine_category",
        "username",
        "uid",
        "shell",
        "default_project",
        "login_enabled",
        "date_created",
        "date_deleted",
    ]
    autocomplete_fields = ["default_project"]


class PersonCreationForm(UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = Person
        fields = ["username", "email", "first_name", "last_name", "institute"]


class PersonChangeForm(UserChangeForm):
    class Meta(UserChangeForm.Meta):
        model = Person
        fields = "__all__"


@admin.register(Person)
class PersonAdmin(LedgerAdmin, UserAdmin):
    form = PersonChangeForm
    add_form = PersonCreationForm
    list_display = [
        "username",
        "first_name",
        "last_name",
        "email",
        "institute",
        "career_level",
        "is_active",
        "is_locked",
        "is_staff",
    ]
    list_filter = [
        "institute",
        "career_level",
        "is_active",
        "is_locked",
        "is_staff",
        "is_superuser",
    ]
    search_fields = ["username", "first_name", "last_name", "email"]
    list_select_related = ["institute", "career_level"]
    autocomplete_fields = ["institute"]
    ordering = ["username"]
    inlines = [PersonMembershipInline, AccountInline]
    fieldsets = [
        (None, {"fields": ["username", "password"]}),
        ("Person", {"fields": ["title", "first_name", "last_name", "email", "email_verified"]}),
        ("Standing", {"fields": ["institute", "career_level"]}),
        (
            "Status",
            {"fields": ["is_active", "is_locked", "date_joined", "date_approved", "expires"]},
        ),
        (
            "Site permissions",
            {
                "fields": ["is_staff", "is_superuser", "groups", "user_permissions"],
                "classes": ["collapse"],
            },
        ),
    ]
    add_fieldsets = [
        (
            None,
            {
                "classes": ["wide"],
                "fields": [
                    "username",
                    "email",
                    "first_name",
                    "last_name",
                    "institute",
                    "password1",
                    "password2",
                ],
            },
        )
    ]
    readonly_fields = ["date_joined"]

    def save_model(self, request, obj, form, change) -> None:
        """An email a site administrator types is verified (they vouch for it), unless they
        untick "email verified" in the same save."""
        if "email" in form.changed_data:
            unticked = "email_verified" in form.changed_data and not obj.email_verified
            obj.set_email(obj.email, verified=not unticked)
        super().save_model(request, obj, form, change)


@admin.register(EmailChange)
class EmailChangeAdmin(LedgerAdmin):
    """Requests to change an email, for looking into; people confirm them by their link."""

    list_display = ["person", "email", "created", "expires_at", "confirmed_at"]
    search_fields = ["person__username", "email"]
    list_select_related = ["person"]
    readonly_fields = ["person", "email", "created", "expires_at", "confirmed_at"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(CareerLevel)
class CareerLevelAdmin(RankedLevelAdmin):
    pass
