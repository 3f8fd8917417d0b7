"""The portal's forms: the usage explorer's query, the grant entry, the audit filters."""

from __future__ import annotations

from django import forms
from django.contrib.contenttypes.models import ContentType

from allotment.audit.services import ACTIONS, ledger_models
from allotment.grants.models import AllocationPeriod, Scheme
from allotment.projects.models import Project
from allotment.resources.models import Machine, ResourcePool
from allotment.usage.explorer import GROUPS, METRICS, PERIODS

DATE = forms.DateInput(attrs={"type": "date"})


class ExplorerForm(forms.Form):
    """The explorer's query. Everything is optional: a bare URL shows used CPU hours per
    project per month. Project choices are only the viewer's visible projects."""

    metric = forms.ChoiceField(choices=list(METRICS.items()), initial="used", required=False)
    group_by = forms.ChoiceField(
        label="Group by",
        choices=[(k, v[3]) for k, v in GROUPS.items()],
        initial="project",
        required=False,
    )
    period = forms.ChoiceField(
        choices=[(p, p.title()) for p in PERIODS], initial="month", required=False
    )
    date_from = forms.DateField(label="From", required=False, widget=DATE)
    date_to = forms.DateField(label="To", required=False, widget=DATE)
    project = forms.ModelChoiceField(
        queryset=Project.objects.none(), to_field_name="pid", required=False, empty_label="All"
    )
    subtree = forms.BooleanField(label="with sub-projects", required=False)
    machine = forms.ModelChoiceField(
        queryset=Machine.objects.order_by("name"),
        to_field_name="name",
        required=False,
        empty_label="All",
    )
    resource_pool = forms.ModelChoiceField(
        label="Resource pool",
        queryset=ResourcePool.objects.order_by("name"),
        to_field_name="name",
        required=False,
        empty_label="Default",
    )
    institute = forms.ModelChoiceField(
        queryset=Project.objects.none(), to_field_name="pid", required=False, empty_label="All"
    )
    chart = forms.ChoiceField(
        choices=[("line", "Lines"), ("bar", "Bars")], initial="line", required=False
    )
    top = forms.TypedChoiceField(
        label="Top",
        choices=[(n, n) for n in (5, 8, 10, 20)],
        coerce=int,
        initial=8,
        required=False,
        empty_value=8,
    )

    def __init__(self, *args, projects=None, institutes=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["project"].queryset = projects if projects is not None else Project.objects
        self.fields["institute"].queryset = (
            institutes if institutes is not None else Project.objects.institutes()
        )

    def value(self, name: str):
        """The cleaned value, or the field's initial one when left empty."""
        found = self.cleaned_data.get(name)
        return found if found not in (None, "") else self.fields[name].initial


class GrantForm(forms.Form):
    """A grant and, in the same step, its allocations for one period: one quantity field
    per resource pool (`pool_<id>`), blank meaning none. Quantities are not checked here:
    the models' clean() says what is wrong, in the words the admin and CLI use."""

    project = forms.ModelChoiceField(queryset=Project.objects.order_by("pid"), to_field_name="pid")
    scheme = forms.ModelChoiceField(queryset=Scheme.objects.order_by("name"))
    begins = forms.DateField(widget=DATE)
    expires = forms.DateField(widget=DATE)
    awarded = forms.DateField(required=False, widget=DATE, help_text="Today if left empty.")
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    period = forms.ModelChoiceField(
        label="Allocation period", queryset=AllocationPeriod.objects.order_by("-start")
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pools = list(ResourcePool.objects.order_by("name"))
        for pool in self.pools:
            self.fields[self.pool_field(pool)] = forms.DecimalField(
                label=pool.name,
                required=False,
                max_digits=24,
                decimal_places=6,
                help_text=pool.units,
                widget=forms.NumberInput(attrs={"step": "any", "placeholder": "0"}),
            )

    @staticmethod
    def pool_field(pool: ResourcePool) -> str:
        return f"pool_{pool.pk}"

    def pool_rows(self):
        return [(pool, self[self.pool_field(pool)]) for pool in self.pools]

    def grant_fields(self):
        return [self[name] for name in ("project", "scheme", "begins", "expires", "awarded")]


def _model_choices() -> list[tuple[str, str]]:
    labels = sorted({m._meta.label_lower for m in ledger_models()})
    return [("", "All")] + [(label, label) for label in labels]


class AuditFilterForm(forms.Form):
    model = forms.ChoiceField(required=False, choices=_model_choices)
    actor = forms.CharField(
        required=False, widget=forms.TextInput(attrs={"placeholder": "username"})
    )
    object = forms.CharField(
        required=False,
        label="Object",
        widget=forms.TextInput(attrs={"placeholder": "id or name"}),
    )
    action = forms.ChoiceField(
        required=False, choices=[("", "All")] + [(str(k), v) for k, v in ACTIONS.items()]
    )
    date_from = forms.DateField(label="From", required=False, widget=DATE)
    date_to = forms.DateField(label="To", required=False, widget=DATE)

    def filter(self, entries):
        """Narrow LogEntry rows by the cleaned filters."""
        data = self.cleaned_data
        if data.get("model"):
            app_label, model = data["model"].split(".")
            content_type = ContentType.objects.filter(app_label=app_label, model=model).first()
            entries = entries.filter(content_type=content_type)
        if data.get("actor"):
            entries = entries.filter(actor__username=data["actor"].strip())
        if data.get("object"):
            term = data["object"].strip()
            entries = entries.filter(object_pk=term) | entries.filter(object_repr__icontains=term)
        if data.get("action") not in (None, ""):
            entries = entries.filter(action=int(data["action"]))
        if data.get("date_from"):
            entries = entries.filter(timestamp__date__gte=data["date_from"])
        if data.get("date_to"):
            entries = entries.filter(timestamp__date__lte=data["date_to"])
        return entries
