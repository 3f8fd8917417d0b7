"""The workflows' forms: they collect input; the services decide whether it is acceptable,
and their refusals are shown on the form (core.forms.show_refusal)."""

from __future__ import annotations

from django import forms

from allotment.access import policy
from allotment.projects.models import ProjectLevel

from . import services


class ChooseProjectForm(forms.Form):
    pid = forms.CharField(label="Project id", max_length=64)


class JoinForm(forms.Form):
    message = forms.CharField(
        label="Why you would like to join (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 4}),
    )


class ReasonForm(forms.Form):
    reason = forms.CharField(label="Reason", widget=forms.Textarea(attrs={"rows": 2}))


class ApproveForm(forms.Form):
    level = forms.ModelChoiceField(
        ProjectLevel.objects.all(), required=False, empty_label="(no level)"
    )


class InviteForm(forms.Form):
    project = forms.ModelChoiceField(queryset=None, to_field_name="pid")
    email = forms.EmailField()
    level = forms.ModelChoiceField(
        ProjectLevel.objects.all(), required=False, empty_label="(no level)"
    )
    message = forms.CharField(
        label="A note for the email (optional)",
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args, viewer, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = policy.managed_projects(viewer).filter(
            is_active=True, parent__isnull=False
        )


class NewPersonForm(forms.Form):
    username = forms.CharField(max_length=150)
    first_name = forms.CharField(max_length=150)
    last_name = forms.CharField(max_length=150)
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    password_again = forms.CharField(widget=forms.PasswordInput, strip=False)

    def clean(self):
        data = super().clean()
        if data.get("password") and data.get("password") != data.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return data


class ProjectApplicationForm(forms.Form):
    institute = forms.ModelChoiceField(queryset=None, to_field_name="pid")
    pid = forms.CharField(
        label="Project id",
        max_length=64,
        help_text="Letters, digits, '_', '.' or '-'; it names the project's unix group and "
        "batch account.",
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 5}))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["institute"].queryset = services.institutes()
