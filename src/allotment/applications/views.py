"""The workflows' pages. Each view checks who may see what through access.policy (via the
services' querysets), then calls one service; a request the viewer may not decide is a 404,
so its existence is not revealed."""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from allotment.core.forms import show_refusal
from allotment.projects.models import Project

from . import forms, services
from .models import Invitation, JoinRequest, ProjectApplication


def _refused(request: HttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


@login_required
def mine(request: HttpRequest) -> HttpResponse:
    """Everything the signed-in person asked for or was offered, and its state."""
    return render(request, "applications/mine.html", services.of_person(request.user))


@login_required
def inbox(request: HttpRequest) -> HttpResponse:
    """What the signed-in person may decide now."""
    viewer = request.user
    return render(
        request,
        "applications/inbox.html",
        {
            "join_requests": services.decidable_join_requests(viewer).select_related(
                "person", "project"
            ),
            "project_applications": services.decidable_project_applications(viewer).select_related(
                "applicant", "institute", "leader_decided_by"
            ),
            "invitations": services.outstanding_invitations(viewer).select_related(
                "project", "invited_by"
            ),
            "approve_form": forms.ApproveForm(auto_id=False),
            "reason_form": forms.ReasonForm(),
            "may_invite": forms.InviteForm(viewer=viewer).fields["project"].queryset.exists(),
        },
    )


@login_required
def join_list(request: HttpRequest) -> HttpResponse:
    """Projects the person may ask to join; or go straight to one by its pid."""
    form = forms.ChooseProjectForm(request.GET or None)
    if form.is_valid():
        pid = form.cleaned_data["pid"].strip()
        project = Project.objects.filter(pid__iexact=pid).first()
        if project is not None:
            return redirect("applications:join", pid=project.pid)
        form.add_error("pid", f'There is no project "{pid}".')
    return render(
        request,
        "applications/join_list.html",
        {"form": form, "projects": services.joinable_projects(request.user)},
    )


@login_required
def join(request: HttpRequest, pid: str) -> HttpResponse:
    project = Project.objects.filter(pid=pid, is_active=True).first()
    if project is None:
        raise Http404(f'There is no active project "{pid}".')
    form = forms.JoinForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            join_request = services.request_to_join(
                request.user, project, form.cleaned_data["message"]
            )
        except ValidationError as e:
            show_refusal(form, e)
        else:
            messages.success(
                request,
                f'You asked to join project "{project.pid}" ({join_request.ref}); its leaders '
                "have been told.",
            )
            return redirect("applications:mine")
    return render(request, "applications/join.html", {"project": project, "form": form})


@login_required
def invite(request: HttpRequest) -> HttpResponse:
    form = forms.InviteForm(
        request.POST or None,
        viewer=request.user,
        initial={"project": request.GET.get("project")},
    )
    if not form.fields["project"].queryset.exists():
        raise PermissionDenied("You manage the members of no project.")
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            invitation, _ = services.invite(
                data["project"],
                data["email"],
                request.user,
                level=data["level"],
                message=data["message"],
            )
        except ValidationError as e:
            show_refusal(form, e)
        else:
            messages.success(
                request,
                f'Invited {invitation.email} to project "{invitation.project.pid}" '
                f"({invitation.ref}).",
            )
            return redirect("applications:inbox")
    return render(request, "applications/invite.html", {"form": form})


def invitation(request: HttpRequest, token: str) -> HttpResponse:
    """The link in an invitation email: works signed in or not."""
    found = services.find_invitation(token)
    problem = services.invitation_refusal(found)
    if problem:
        status = 404 if found is None else 410
        return render(request, "applications/invitation.html", {"problem": problem}, status=status)
    signed_in = request.user.is_authenticated
    new_person = forms.NewPersonForm(
        request.POST if request.method == "POST" and not signed_in else None
    )
    if request.method == "POST":
        try:
            if signed_in:
                services.accept_invitation(token, request.user)
                person = request.user
            elif new_person.is_valid():
                data = new_person.cleaned_data
                person = services.accept_invitation_as_new_person(
                    token,
                    username=data["username"],
                    password=data["password"],
                    first_name=data["first_name"],
                    last_name=data["last_name"],
                )
                login(request, person, backend="allotment.people.auth.PersonBackend")
                messages.info(
                    request,
                    f"We sent a link to {person.email}: open it, signed in as "
                    f"{person.username}, to confirm that address is yours.",
                )
            else:
                person = None
        except services.AddressTaken as e:
            # The invitee has an account: they sign in and accept as themselves.
            _refused(request, e)
            return redirect_to_login(request.get_full_path())
        except ValidationError as e:
            if signed_in:
                _refused(request, e)
            else:
                show_refusal(new_person, e)
        else:
            if person is not None:
                messages.success(request, f'You are now a member of project "{found.project.pid}".')
                return redirect("applications:mine")
    login_link = redirect_to_login(request.get_full_path())["Location"]
    return render(
        request,
        "applications/invitation.html",
        {"invitation": found, "form": new_person, "login_link": login_link},
    )


@login_required
def new_project(request: HttpRequest) -> HttpResponse:
    initial = {}
    if request.user.institute_id is not None:
        initial["institute"] = request.user.institute.pid
    form = forms.ProjectApplicationForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            application = services.apply_for_project(
                request.user, data["institute"], data["pid"], data["name"], data["description"]
            )
        except ValidationError as e:
            show_refusal(form, e)
        else:
            messages.success(
                request,
                f'You applied for project "{application.pid}" ({application.ref}); the leaders '
                f"of {application.institute.pid} have been told.",
            )
            return redirect("applications:mine")
    return render(
        request,
        "applications/new_project.html",
        {"form": form, "admin_stage": services.admin_stage_required()},
    )


def _found(ref: str, shown: Callable[[services.Application], bool]) -> services.Application:
    """What the reference names, if `shown` says the viewer may act on it; else a 404."""
    try:
        found = services.find(ref)
    except ValidationError:
        raise Http404(ref) from None
    if not shown(found):
        raise Http404(ref)
    return found


def _decidable(request: HttpRequest, ref: str):
    """The join request or project application named, if the viewer may decide it now."""
    return _found(
        ref,
        lambda found: (
            not isinstance(found, Invitation) and services.can_decide(request.user, found)
        ),
    )


def _step(
    request: HttpRequest, step: Callable[[], object], done: Callable[[object], str], then: str
) -> HttpResponse:
    """Take the step; say what it did (`done(result)`) or why it was refused; go to `then`."""
    try:
        result = step()
    except ValidationError as e:
        _refused(request, e)
    else:
        messages.success(request, done(result))
    return redirect(then)


def _approved(found, result) -> str:
    if isinstance(found, JoinRequest):
        return f"Approved {found.ref}: {result} now."
    if result.state == ProjectApplication.State.LEADER_APPROVED:
        return f"Approved {found.ref}; it now waits for a site administrator."
    return f'Approved {found.ref}: project "{result.project.pid}" was created.'


@require_POST
@login_required
def approve(request: HttpRequest, ref: str) -> HttpResponse:
    found = _decidable(request, ref)
    options = {}
    if isinstance(found, JoinRequest):
        form = forms.ApproveForm(request.POST)
        options["level"] = form.cleaned_data["level"] if form.is_valid() else None
    return _step(
        request,
        lambda: services.approve(found, request.user, **options),
        lambda result: _approved(found, result),
        "applications:inbox",
    )


@require_POST
@login_required
def decline(request: HttpRequest, ref: str) -> HttpResponse:
    found = _decidable(request, ref)
    return _step(
        request,
        lambda: services.decline(found, request.user, request.POST.get("reason", "")),
        lambda _: f"Declined {found.ref}.",
        "applications:inbox",
    )


def _owner_id(found) -> int | None:
    return getattr(found, "person_id", None) or getattr(found, "applicant_id", None)


@require_POST
@login_required
def withdraw(request: HttpRequest, ref: str) -> HttpResponse:
    found = _found(
        ref,
        lambda found: not isinstance(found, Invitation) and _owner_id(found) == request.user.pk,
    )
    return _step(
        request,
        lambda: services.withdraw(found, request.user),
        lambda _: f"Withdrew {found.ref}.",
        "applications:mine",
    )


@require_POST
@login_required
def revoke(request: HttpRequest, ref: str) -> HttpResponse:
    found = _found(
        ref,
        lambda found: isinstance(found, Invitation) and services.can_decide(request.user, found),
    )
    return _step(
        request,
        lambda: services.revoke_invitation(found, request.user),
        lambda _: f"Revoked {found.ref}; its link no longer works.",
        "applications:inbox",
    )
