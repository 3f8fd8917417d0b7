"""A person's own batch jobs: the list with the submit form, one job (with what it printed,
when this host can see it), and its cancel.

Each page acts as the signed-in person, through jobs.services as the CLI and the API do:
the job goes to Slurm as them, and a job that is not theirs is answered as missing (404),
whoever asks. Site administrators submit for others with the CLI's --as, not here.
"""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from allotment.jobs import services
from allotment.jobs.models import Via
from allotment.projects.models import Project


class JobForm(forms.Form):
    script = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 10, "spellcheck": "false"}),
        max_length=services.MAX_SCRIPT_BYTES,
        strip=False,
        initial="#!/bin/bash\n",
        help_text="Begins with #! and its interpreter.",
    )
    project = forms.ChoiceField()
    machine = forms.ChoiceField()
    cores = forms.IntegerField(min_value=1, max_value=services.MAX_CORES, initial=1)
    memory_mb = forms.IntegerField(
        label="Memory (MB)", min_value=0, max_value=services.MAX_MEMORY_MB, initial=0,
        help_text="0: the partition's default.",
    )  # fmt: skip
    time = forms.CharField(max_length=16, initial="1h", help_text="90, 1h30m, 2d or 1:30:00.")
    partition = forms.CharField(max_length=64, required=False)
    image = forms.CharField(max_length=64, required=False, help_text="For a burst partition.")
    name = forms.CharField(max_length=64, required=False)

    def __init__(self, person, *args, **kwargs):
        super().__init__(*args, **kwargs)
        pids = Project.objects.filter(memberships__person=person, is_active=True).values_list(
            "pid", flat=True
        )
        self.fields["project"].choices = [(p, p) for p in pids]
        self.fields["machine"].choices = [(m.name, m.name) for m in services.job_machines()]

    def ask(self) -> services.Ask:
        return services.ask_from(self.cleaned_data)


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    """GET: your jobs and the form; POST: submit the form's job as you."""
    form = JobForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            row = services.submit(request.user, form.ask(), via=Via.WEB)
        except services.JobRefused as e:
            form.add_error(None, str(e))
        else:
            messages.success(
                request, f"Submitted job {row.job_id} on {row.machine.name} as {row.slurm_user}."
            )
            return redirect("web:job", machine=row.machine.name, job_id=row.job_id)
    try:
        # After a refused form, the list as it was: no second round to slurmrestd.
        rows = services.submissions(request.user, refresh=request.method != "POST")
    except services.JobRefused as e:
        rows = []
        messages.error(request, str(e))
    status = 400 if request.method == "POST" else 200
    return render(request, "web/jobs/list.html", {"form": form, "rows": rows}, status=status)


@login_required
def job_detail(request: HttpRequest, machine: str, job_id: int) -> HttpResponse:
    try:
        row, view = services.show(request.user, job_id, machine)
    except services.NoSuchJob as e:
        raise Http404(str(e)) from None
    except services.JobRefused as e:
        messages.error(request, str(e))
        return redirect("web:jobs")
    output = services.output_of(row)
    return render(request, "web/jobs/detail.html", {"row": row, "view": view, "output": output})


@login_required
@require_POST
def job_cancel(request: HttpRequest, machine: str, job_id: int) -> HttpResponse:
    try:
        services.cancel(request.user, job_id, machine)
    except services.NoSuchJob as e:
        raise Http404(str(e)) from None
    except services.JobRefused as e:
        messages.error(request, str(e))
    else:
        messages.success(request, f"Cancelled job {job_id} on {machine}.")
    return redirect("web:job", machine=machine, job_id=job_id)
