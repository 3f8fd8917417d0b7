"""Every role against every page and endpoint: each cell of the table below is one test.

The expected answers follow access.policy (its module docstring) and the rules of the
portal and the API:

- a site administrator sees and does everything;
- a leader acts on the whole subtree of what they lead, a supervisor manages that project's
  members, a member sees their projects, those projects' members, and themselves;
- an object the person may not see is answered as missing (404); a page or an object they
  may see but an action they may not take is refused (403);
- anonymous (and locked) people are sent to the sign-in page by the portal (302) and
  answered 401 by the API, never with data.

The example site (see the root conftest): alice leads InstituteA, ProjectA and ProjectB;
bob is a member of ProjectA and ProjectB; chen supervises ProjectA; dana leads InstituteB;
eve leads InstituteC and ProjectC (ProjectD's parent) and supervises ProjectD; farid is a
member of ProjectD; grace leads ProjectD. The table's columns add a site administrator, a
signed-in outsider with no memberships, and a locked member of ProjectA.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import NoReverseMatch, reverse
from rest_framework.test import APIClient

from allotment.api import tokens
from allotment.applications import services as workflows
from allotment.applications.models import Invitation, JoinRequest, ProjectApplication
from allotment.grants.models import (
    Allocation,
    AllocationPeriod,
    AllocationPool,
    Grant,
    Scheme,
)
from allotment.groups.models import Group, GroupMember
from allotment.people import email as email_change
from allotment.people.models import EmailChange, Person
from allotment.projects.models import Project, ProjectMembership
from allotment.projects.services import add_member, create_project
from allotment.resources.models import Machine, Resource, ResourcePool

# The table's columns, in order.
ROLES = ("anonymous", "admin", "eve", "grace", "alice", "chen", "bob", "outsider", "locked")

# Answers other than a plain status code.
LOGIN = "login"  # 302 to the portal's sign-in page, with ?next= this page
ADMIN_LOGIN = "admin-login"  # 302 to the admin site's sign-in page
OWN_PAGE = "own-page"  # 302 to the signed-in person's own page

N = LOGIN  # short names, so each row of the table fits on one line
A = ADMIN_LOGIN
O = OWN_PAGE  # noqa: E741


def P(*usernames: str) -> frozenset[str]:
    """200, listing exactly these people."""
    return frozenset(usernames)


Z = P()  # 200, listing no one


# Targets --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    kind: str  # "page" (portal, /apply/ and /admin/: session) or "api" (Bearer token)
    url: Callable[[], str]
    method: str = "get"
    body: Callable[[], dict] | None = None
    # For writes: whether the write took effect, so a refusal is seen to change nothing.
    done: Callable[[], bool] | None = None
    # The body of a 400, where the table has one: most are a project the person may not
    # see, answered as if missing.
    refused_as: dict | None = None


def _page(name: str, **kwargs) -> Callable[[], str]:
    def url() -> str:
        return reverse(name, kwargs=kwargs or None)

    url.route = (name, kwargs)  # checked at collection: see _cells()
    return url


def _api(path: str, lookup: Callable[[], object] | None = None) -> Callable[[], str]:
    if lookup is None:
        return lambda: f"/api/{path}/"
    return lambda: f"/api/{path}/{lookup()}/"


def _resolves(name: str, **kwargs) -> bool:
    try:
        reverse(name, kwargs=kwargs or None)
    except NoReverseMatch:
        return False
    return True


def _membership(pid: str, username: str) -> ProjectMembership:
    return ProjectMembership.objects.get(project__pid=pid, person__username=username)


def _alices_job() -> int:
    """A job alice submitted on brecca (recorded as jobs.services does; no Slurm)."""
    from allotment.jobs.models import Submission

    found = Submission.objects.filter(person__username="alice").first()
    if found is None:
        found = Submission.objects.create(
            person=Person.objects.get(username="alice"),
            project=Project.objects.get(pid="ProjectB"),
            machine=Machine.objects.get(name="brecca"),
            job_id=4242, slurm_user="alice", name="matrix", cores=1, time_minutes=5,
            script_sha256="0" * 64, script_bytes=10, via="web",
        )  # fmt: skip
    return found.job_id


def _first(model, **lookup) -> int:
    return model.objects.filter(**lookup).order_by("pk")[0].pk


def _join_request() -> JoinRequest:
    """farid's request to join ProjectA (made on first use)."""
    farid = Person.objects.get(username="farid")
    found = JoinRequest.objects.filter(person=farid, project__pid="ProjectA").first()
    return found or workflows.request_to_join(farid, Project.objects.get(pid="ProjectA"))


def _invitation() -> Invitation:
    """grace's invitation of dee@uni.example to ProjectD (made on first use)."""
    found = Invitation.objects.filter(email="dee@uni.example").first()
    if found is None:
        grace = Person.objects.get(username="grace")
        found, _ = workflows.invite(Project.objects.get(pid="ProjectD"), "dee@uni.example", grace)
    return found


def _bobs_email_token() -> str:
    """The token of bob's request to move his email to bob@new.example (made on first use:
    a token is shown once, so each cell makes its own request)."""
    bob = Person.objects.get(username="bob")
    return email_change.request_change(bob, "bob@new.example")[1]


def _application() -> ProjectApplication:
    """bob's application for ProjectBob under InstituteA (made on first use)."""
    found = ProjectApplication.objects.filter(pid="ProjectBob").first()
    if found is None:
        bob, institute = Person.objects.get(username="bob"), Project.objects.get(pid="InstituteA")
        found = workflows.apply_for_project(bob, institute, "ProjectBob", "Bob's project")
    return found


def _spare_project() -> Project:
    """ProjectS under InstituteB, with no members: none of the table's people is in it."""
    found = Project.objects.filter(pid="ProjectS").first()
    institute_b = Project.objects.get(pid="InstituteB")
    return found or create_project("ProjectS", "Spare", parent=institute_b)


def _spare_invitation_token() -> str:
    return workflows.invite(_spare_project(), "sam@uni.example", None, operator=True)[1]


def _root_admin() -> Person:
    """matrix-root, a site administrator of InstituteA (alice's), made on first use."""
    found = Person.objects.filter(username="matrix-root").first()
    return found or Person.objects.create_superuser(
        "matrix-root", "root@site.example.org", institute=Project.objects.get(pid="InstituteA")
    )


def _person_patch(username: Callable[[], str], body: dict, field: str) -> Target:
    """PATCH /api/people/<username>/ with `body`; done when `field` took its value."""
    (value,) = body.values()

    def done() -> bool:
        person = Person.objects.get(username=username())
        return getattr(person, field) == value

    return Target("api", _api("people", username), method="patch", body=lambda: dict(body),
                  done=done)  # fmt: skip


def _membership_write(username: str, method: str, body: dict | None = None) -> Target:
    """PATCH (with body: done when each field took its value) or DELETE (done when gone)
    username's membership of ProjectA."""

    def done() -> bool:
        row = ProjectMembership.objects.filter(project__pid="ProjectA", person__username=username)
        if body is None:
            return not row.exists()
        found = row.select_related("project_level").get()
        level = found.project_level.name if found.project_level else None
        return all((level if name == "project_level" else getattr(found, name)) == value
                   for name, value in body.items())  # fmt: skip

    return Target(
        "api",
        _api("memberships", lambda: _membership("ProjectA", username).pk),
        method=method,
        body=(lambda: dict(body)) if body is not None else None,
        done=done,
    )


WORKFLOW_PATHS = {
    JoinRequest: "join-requests",
    Invitation: "invitations",
    ProjectApplication: "project-applications",
}


def _step(row: Callable[[], object], step: str, *states: str, body=dict) -> Target:
    """POST /api/<kind>/<id>/<step>/ on the row `row()` finds or makes; done when the row is
    then in one of `states`."""
    return Target(
        "api",
        lambda: f"/api/{WORKFLOW_PATHS[type(row())]}/{row().pk}/{step}/",
        method="post",
        body=body,
        done=lambda: row().state in states,
    )


NEW_GRANT = {"project": "ProjectA", "scheme": "ET", "begins": "2100-02-01",
             "expires": "2100-11-30", "description": "matrix grant"}  # fmt: skip

TARGETS: dict[str, Target] = {
    # The portal.
    "web-dashboard": Target("page", _page("web:dashboard")),
    "web-project-tree": Target("page", _page("web:project-tree")),
    "web-project-ProjectA": Target("page", _page("web:project", pid="ProjectA")),
    "web-project-ProjectC": Target("page", _page("web:project", pid="ProjectC")),
    "web-person-bob": Target("page", _page("web:person", username="bob")),
    "web-person-farid": Target("page", _page("web:person", username="farid")),
    "web-me": Target("page", _page("web:me")),
    "web-explorer": Target("page", _page("web:explorer")),
    "web-explorer-csv": Target("page", _page("web:explorer-csv")),
    "web-grant-create": Target("page", _page("web:grant-create")),
    "web-audit-log": Target("page", _page("web:audit-log")),
    "web-nodes": Target("page", _page("web:nodes")),
    "web-shifts": Target("page", _page("web:shifts")),
    "web-burst": Target("page", _page("web:burst")),
    "web-burst-vms": Target("page", _page("web:burst-vms")),
    "web-jobs": Target("page", _page("web:jobs")),
    "web-job-alice": Target("page", lambda: f"/jobs/brecca/{_alices_job()}/"),
    # The workflows (allotment.applications).
    "apply-mine": Target("page", _page("applications:mine")),
    "apply-inbox": Target("page", _page("applications:inbox")),
    "apply-join-list": Target("page", _page("applications:join-list")),
    "apply-join-ProjectA": Target("page", _page("applications:join", pid="ProjectA")),
    "apply-join-ProjectC": Target("page", _page("applications:join", pid="ProjectC")),
    "apply-invite": Target("page", _page("applications:invite")),
    "apply-new-project": Target("page", _page("applications:new-project")),
    "apply-invitation-unknown": Target(
        "page", _page("applications:invitation", token="no-such-token")
    ),
    "apply-approve-unknown": Target(
        "page", _page("applications:approve", ref="J999999"), method="post", body=dict
    ),
    # The admin site.
    "admin-index": Target("page", lambda: "/admin/"),
    # The API: every router resource's list and details.
    "api-people-list": Target("api", _api("people")),
    "api-people-detail-bob": Target("api", _api("people", lambda: "bob")),
    "api-people-detail-farid": Target("api", _api("people", lambda: "farid")),
    "api-projects-list": Target("api", _api("projects")),
    "api-projects-detail-ProjectA": Target("api", _api("projects", lambda: "ProjectA")),
    "api-projects-detail-ProjectC": Target("api", _api("projects", lambda: "ProjectC")),
    "api-memberships-list": Target("api", _api("memberships")),
    "api-memberships-detail-bob@ProjectA": Target(
        "api", _api("memberships", lambda: _membership("ProjectA", "bob").pk)
    ),
    "api-memberships-detail-eve@ProjectC": Target(
        "api", _api("memberships", lambda: _membership("ProjectC", "eve").pk)
    ),
    "api-groups-list": Target("api", _api("groups")),
    "api-groups-detail-ProjectA": Target(
        "api", _api("groups", lambda: Group.objects.get(project__pid="ProjectA").pk)
    ),
    "api-groups-detail-ProjectC": Target(
        "api", _api("groups", lambda: Group.objects.get(project__pid="ProjectC").pk)
    ),
    "api-groups-detail-matlab": Target(
        "api", _api("groups", lambda: Group.objects.get(name="matlab").pk)
    ),
    "api-group-members-list": Target("api", _api("group-members")),
    "api-group-members-detail-ProjectA": Target(
        "api",
        _api(
            "group-members",
            lambda: GroupMember.objects.filter(group__project__pid="ProjectA").first().pk,
        ),
    ),
    "api-group-members-detail-matlab": Target(
        "api", _api("group-members", lambda: GroupMember.objects.filter(group__name="matlab")[0].pk)
    ),
    "api-machines-list": Target("api", _api("machines")),
    "api-nodes-list": Target("api", _api("nodes")),
    "api-shifts-list": Target("api", _api("shifts")),
    "api-clouds-list": Target("api", _api("clouds")),
    "api-vms-list": Target("api", _api("vms")),
    "api-burst-status": Target("api", _api("burst/status")),
    "api-burst-vms-over-time": Target("api", _api("burst/vms-over-time")),
    "api-jobs-list": Target("api", _api("jobs")),
    "api-jobs-detail-alice": Target("api", lambda: f"/api/jobs/brecca/{_alices_job()}/"),
    "api-jobs-output-alice": Target("api", lambda: f"/api/jobs/brecca/{_alices_job()}/output/"),
    "api-machines-detail": Target("api", _api("machines", lambda: "brecca")),
    "api-resource-pools-list": Target("api", _api("resource-pools")),
    "api-resource-pools-detail": Target(
        "api", _api("resource-pools", lambda: ResourcePool.objects.get(name="CPU Hours").pk)
    ),
    "api-resources-list": Target("api", _api("resources")),
    "api-resources-detail": Target(
        "api", _api("resources", lambda: Resource.objects.get(name="brecca-cores").pk)
    ),
    "api-schemes-list": Target("api", _api("schemes")),
    "api-schemes-detail": Target("api", _api("schemes", lambda: Scheme.objects.get(name="ET").pk)),
    "api-grants-list": Target("api", _api("grants")),
    "api-grants-detail-ProjectA": Target(
        "api", _api("grants", lambda: Grant.objects.get(project__pid="ProjectA").pk)
    ),
    "api-grants-detail-ProjectD": Target(
        "api", _api("grants", lambda: Grant.objects.get(project__pid="ProjectD").pk)
    ),
    "api-periods-list": Target("api", _api("periods")),
    "api-periods-detail": Target(
        "api", _api("periods", lambda: AllocationPeriod.objects.get(name="2100").pk)
    ),
    "api-allocation-pools-list": Target("api", _api("allocation-pools")),
    "api-allocation-pools-detail-ProjectA": Target(
        "api", _api("allocation-pools", lambda: _first(AllocationPool, project__pid="ProjectA"))
    ),
    "api-allocations-list": Target("api", _api("allocations")),
    "api-allocations-detail-ProjectA": Target(
        "api",
        _api("allocations", lambda: _first(Allocation, allocation_pool__project__pid="ProjectA")),
    ),
    "api-usage-report": Target("api", lambda: "/api/usage/report/"),
    "api-openapi": Target("api", lambda: "/api/openapi.json"),
    # The workflows over the API (allotment.api.applications).
    "api-join-requests-list": Target("api", _api("join-requests")),
    "api-join-requests-detail-farid@ProjectA": Target(
        "api", _api("join-requests", lambda: _join_request().pk)
    ),
    "api-invitations-list": Target("api", _api("invitations")),
    "api-invitations-detail-ProjectD": Target("api", _api("invitations", lambda: _invitation().pk)),
    "api-project-applications-list": Target("api", _api("project-applications")),
    "api-project-applications-detail-bob": Target(
        "api", _api("project-applications", lambda: _application().pk)
    ),
    # Writes.
    "api-memberships-create-dana@ProjectA": Target(
        "api",
        _api("memberships"),
        method="post",
        body=lambda: {"project": "ProjectA", "person": "dana"},
        done=lambda: ProjectMembership.objects.filter(
            project__pid="ProjectA", person__username="dana"
        ).exists(),
    ),
    "api-memberships-create-leader-dana@ProjectA": Target(
        "api",
        _api("memberships"),
        method="post",
        body=lambda: {"project": "ProjectA", "person": "dana", "is_leader": True},
        done=lambda: ProjectMembership.objects.filter(
            project__pid="ProjectA", person__username="dana"
        ).exists(),
    ),
    "api-projects-rename-ProjectC": Target(
        "api",
        _api("projects", lambda: "ProjectC"),
        method="patch",
        body=lambda: {"name": "Renamed by the matrix"},
        done=lambda: Project.objects.get(pid="ProjectC").name == "Renamed by the matrix",
    ),
    "api-grants-create-ProjectA": Target(
        "api",
        _api("grants"),
        method="post",
        body=lambda: dict(NEW_GRANT),
        done=lambda: Grant.objects.filter(description="matrix grant").exists(),
    ),
    "api-join-requests-create-ProjectS": Target(
        "api",
        _api("join-requests"),
        method="post",
        body=lambda: {"project": _spare_project().pid},
        done=lambda: JoinRequest.objects.filter(project__pid="ProjectS").exists(),
    ),
    "api-join-requests-approve-farid@ProjectA": _step(_join_request, "approve", "approved"),
    "api-join-requests-decline-farid@ProjectA": _step(
        _join_request, "decline", "declined", body=lambda: {"reason": "The matrix says no."}
    ),
    "api-join-requests-withdraw-farid@ProjectA": _step(_join_request, "withdraw", "withdrawn"),
    "api-invitations-create-ProjectA": Target(
        "api",
        _api("invitations"),
        method="post",
        body=lambda: {"project": "ProjectA", "email": "matrix@uni.example"},
        done=lambda: Invitation.objects.filter(email="matrix@uni.example").exists(),
    ),
    "api-invitations-revoke-ProjectD": _step(_invitation, "revoke", "revoked"),
    "api-invitations-accept-ProjectS": Target(
        "api",
        _api("invitations/accept"),
        method="post",
        body=lambda: {"token": _spare_invitation_token()},
        done=lambda: ProjectMembership.objects.filter(project__pid="ProjectS").exists(),
    ),
    "api-project-applications-create-InstituteB": Target(
        "api",
        _api("project-applications"),
        method="post",
        body=lambda: {"institute": "InstituteB", "pid": "ProjectM", "name": "Matrix"},
        done=lambda: ProjectApplication.objects.filter(pid="ProjectM").exists(),
    ),
    # alice's approval is the first stage's (leader_approved), a site administrator's final.
    "api-project-applications-approve-bob": _step(
        _application, "approve", "leader_approved", "approved"
    ),
    "api-project-applications-withdraw-bob": _step(_application, "withdraw", "withdrawn"),
    "api-memberships-delete-bob@ProjectA": Target(
        "api",
        _api("memberships", lambda: _membership("ProjectA", "bob").pk),
        method="delete",
        done=lambda: (
            not ProjectMembership.objects.filter(
                project__pid="ProjectA", person__username="bob"
            ).exists()
        ),
    ),
    # Issue 10, item 1: a leader locking out, or taking over (email), a site administrator of
    # their institute; a leader locking a co-leader; anyone rewriting an email.
    "api-people-lock-root": _person_patch(
        lambda: _root_admin().username, {"is_locked": True}, "is_locked"
    ),
    "api-people-email-root": _person_patch(
        lambda: _root_admin().username, {"email": "mallory@evil.example"}, "email"
    ),
    "api-people-lock-grace": _person_patch(lambda: "grace", {"is_locked": True}, "is_locked"),
    "api-people-email-bob": _person_patch(lambda: "bob", {"email": "bob@evil.example"}, "email"),
    # Issue 10, item 3: an email changes only by a link to the new address, which only the
    # person who asked may use (whoever holds the link, an administrator included).
    "api-email-change-request": Target(
        "api",
        _api("email-change"),
        method="post",
        body=lambda: {"email": "new-address@example.org"},
        done=lambda: EmailChange.objects.filter(email="new-address@example.org").exists(),
    ),
    "api-email-change-confirm-bob": Target(
        "api",
        lambda: "/api/email-change/confirm/",
        method="post",
        body=lambda: {"token": _bobs_email_token()},
        done=lambda: Person.objects.get(username="bob").email == "bob@new.example",
        refused_as={"errors": {"token": [email_change.refusal(None, None)]}},
    ),
    # Issue 10, item 6: the members of a project the caller may not see, through ?project=.
    "api-people-in-InstituteA": Target("api", lambda: "/api/people/?project=InstituteA"),
    "api-people-in-ProjectC": Target("api", lambda: "/api/people/?project=ProjectC"),
    # Issue 10, item 7: a supervisor (chen) changing or removing the leader's membership, or
    # handing out a role.
    "api-memberships-level-alice@ProjectA": _membership_write(
        "alice", "patch", {"project_level": "Student"}
    ),
    "api-memberships-default-alice@ProjectA": _membership_write(
        "alice", "patch", {"is_default_project": False}
    ),
    "api-memberships-delete-alice@ProjectA": _membership_write("alice", "delete"),
    "api-memberships-supervisor-bob@ProjectA": _membership_write(
        "bob", "patch", {"is_supervisor": True}
    ),
}

# The table -------------------------------------------------------------------------------
#
# Columns: anonymous, admin, eve, grace, alice, chen, bob, outsider, locked.
# N: to the sign-in page; A: to the admin's sign-in page; O: to one's own person page.
#
# eve sees InstituteC, ProjectC, ProjectD and their people; grace sees ProjectD (not its
# parent ProjectC) and its members; alice sees InstituteA, ProjectA, ProjectB; chen sees
# ProjectA; bob sees ProjectA and ProjectB; the outsider sees only themselves.

GRID: dict[str, tuple] = {
    #                                      anon admin eve grace alice chen bob outs locked
    "web-dashboard":                        (N, 200, 200, 200, 200, 200, 200, 200, N),
    "web-project-tree":                     (N, 200, 200, 200, 200, 200, 200, 200, N),
    "web-project-ProjectA":                 (N, 200, 404, 404, 200, 200, 200, 404, N),
    "web-project-ProjectC":                 (N, 200, 200, 404, 404, 404, 404, 404, N),
    "web-person-bob":                       (N, 200, 404, 404, 200, 200, 200, 404, N),
    "web-person-farid":                     (N, 200, 200, 200, 404, 404, 404, 404, N),
    "web-me":                               (N,   O,   O,   O,   O,   O,   O,   O, N),
    "web-explorer":                         (N, 200, 200, 200, 200, 200, 200, 200, N),
    "web-explorer-csv":                     (N, 200, 200, 200, 200, 200, 200, 200, N),
    "web-grant-create":                     (N, 200, 403, 403, 403, 403, 403, 403, N),
    "web-audit-log":                        (N, 200, 403, 403, 403, 403, 403, 403, N),
    # The bare-metal inventory is infrastructure: site administrators only, reads included.
    "web-nodes":                            (N, 200, 403, 403, 403, 403, 403, 403, N),
    "web-shifts":                           (N, 200, 403, 403, 403, 403, 403, 403, N),
    # So are burst's clouds and VMs.
    "web-burst":                            (N, 200, 403, 403, 403, 403, 403, 403, N),
    "web-burst-vms":                        (N, 200, 403, 403, 403, 403, 403, 403, N),
    # Anyone signed in has their own jobs; a job is its person's alone: even a site
    # administrator reads another's only by acting as them (--as, ?as_user=).
    "web-jobs":                             (N, 200, 200, 200, 200, 200, 200, 200, N),
    "web-job-alice":                        (N, 404, 404, 404, 200, 404, 404, 404, N),
    "apply-mine":                           (N, 200, 200, 200, 200, 200, 200, 200, N),
    "apply-inbox":                          (N, 200, 200, 200, 200, 200, 200, 200, N),
    "apply-join-list":                      (N, 200, 200, 200, 200, 200, 200, 200, N),
    # Anyone signed in may ask to join an active project they know the pid of.
    "apply-join-ProjectA":                  (N, 200, 200, 200, 200, 200, 200, 200, N),
    "apply-join-ProjectC":                  (N, 200, 200, 200, 200, 200, 200, 200, N),
    # Inviting is managing members: a page for leaders and supervisors of sub-projects.
    "apply-invite":                         (N, 200, 200, 200, 200, 200, 403, 403, N),
    "apply-new-project":                    (N, 200, 200, 200, 200, 200, 200, 200, N),
    # An invitation link works signed in or not; an unknown one is simply not there.
    "apply-invitation-unknown":             (404, 404, 404, 404, 404, 404, 404, 404, 404),
    "apply-approve-unknown":                (N, 404, 404, 404, 404, 404, 404, 404, N),
    "admin-index":                          (A, 200,   A,   A,   A,   A,   A,   A, A),
    "api-people-list":                      (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-people-detail-bob":                (401, 200, 404, 404, 200, 200, 200, 404, 401),
    "api-people-detail-farid":              (401, 200, 200, 200, 404, 404, 404, 404, 401),
    "api-projects-list":                    (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-projects-detail-ProjectA":         (401, 200, 404, 404, 200, 200, 200, 404, 401),
    "api-projects-detail-ProjectC":         (401, 200, 200, 404, 404, 404, 404, 404, 401),
    "api-memberships-list":                 (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-memberships-detail-bob@ProjectA":  (401, 200, 404, 404, 200, 200, 200, 404, 401),
    "api-memberships-detail-eve@ProjectC":  (401, 200, 200, 404, 404, 404, 404, 404, 401),
    "api-groups-list":                      (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-groups-detail-ProjectA":           (401, 200, 404, 404, 200, 200, 200, 404, 401),
    "api-groups-detail-ProjectC":           (401, 200, 200, 404, 404, 404, 404, 404, 401),
    "api-groups-detail-matlab":             (401, 200, 404, 404, 404, 404, 404, 404, 401),
    "api-group-members-list":               (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-group-members-detail-ProjectA":    (401, 200, 404, 404, 200, 200, 200, 404, 401),
    "api-group-members-detail-matlab":      (401, 200, 404, 404, 404, 404, 404, 404, 401),
    "api-machines-list":                    (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-nodes-list":                       (401, 200, 403, 403, 403, 403, 403, 403, 401),
    "api-shifts-list":                      (401, 200, 403, 403, 403, 403, 403, 403, 401),
    "api-clouds-list":                      (401, 200, 403, 403, 403, 403, 403, 403, 401),
    "api-vms-list":                         (401, 200, 403, 403, 403, 403, 403, 403, 401),
    "api-burst-status":                     (401, 200, 403, 403, 403, 403, 403, 403, 401),
    "api-burst-vms-over-time":              (401, 200, 403, 403, 403, 403, 403, 403, 401),
    "api-jobs-list":                        (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-jobs-detail-alice":                (401, 404, 404, 404, 200, 404, 404, 404, 401),
    "api-jobs-output-alice":                (401, 404, 404, 404, 200, 404, 404, 404, 401),
    "api-machines-detail":                  (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-resource-pools-list":              (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-resource-pools-detail":            (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-resources-list":                   (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-resources-detail":                 (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-schemes-list":                     (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-schemes-detail":                   (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-grants-list":                      (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-grants-detail-ProjectA":           (401, 200, 404, 404, 200, 200, 200, 404, 401),
    "api-grants-detail-ProjectD":           (401, 200, 200, 200, 404, 404, 404, 404, 401),
    "api-periods-list":                     (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-periods-detail":                   (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-allocation-pools-list":            (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-allocation-pools-detail-ProjectA": (401, 200, 404, 404, 200, 200, 200, 404, 401),
    "api-allocations-list":                 (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-allocations-detail-ProjectA":      (401, 200, 404, 404, 200, 200, 200, 404, 401),
    "api-usage-report":                     (401, 200, 200, 200, 200, 200, 200, 200, 401),
    # The schema is public and holds no data.
    "api-openapi":                          (200, 200, 200, 200, 200, 200, 200, 200, 200),
    # Workflows: one's own, and those one may decide (a join request or invitation: whoever
    # manages the project's members; a project application: the institute's leaders).
    "api-join-requests-list":                   (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-join-requests-detail-farid@ProjectA":  (401, 200, 404, 404, 200, 200, 404, 404, 401),
    "api-invitations-list":                     (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-invitations-detail-ProjectD":          (401, 200, 200, 200, 404, 404, 404, 404, 401),
    "api-project-applications-list":            (401, 200, 200, 200, 200, 200, 200, 200, 401),
    "api-project-applications-detail-bob":      (401, 200, 404, 404, 200, 404, 200, 404, 401),
    # Writes. A project named in a body that the person may not see is answered as a
    # project that does not exist (400, "There is no project"), like a missing object.
    "api-memberships-create-dana@ProjectA":        (401, 201, 400, 400, 201, 201, 403, 403, 401),
    "api-memberships-create-leader-dana@ProjectA": (401, 201, 400, 400, 201, 403, 403, 403, 401),
    "api-projects-rename-ProjectC":                (401, 200, 200, 404, 404, 404, 404, 404, 401),
    "api-grants-create-ProjectA":                  (401, 201, 403, 403, 403, 403, 403, 403, 401),
    "api-memberships-delete-bob@ProjectA":         (401, 204, 404, 404, 204, 204, 403, 404, 401),
    # Issue 10, item 1. matrix-root is a site administrator of InstituteA: alice sees them
    # (her institute's) but may change nothing of theirs; grace leads ProjectD, inside eve's
    # subtree, so eve may not change her account state; an email is the administrators'.
    "api-people-lock-root":                        (401, 200, 404, 404, 403, 404, 404, 404, 401),
    "api-people-email-root":                       (401, 200, 404, 404, 403, 404, 404, 404, 401),
    "api-people-lock-grace":                       (401, 200, 403, 403, 404, 404, 404, 404, 401),
    "api-people-email-bob":                        (401, 200, 404, 404, 403, 403, 403, 404, 401),
    "api-email-change-request":                    (401, 202, 202, 202, 202, 202, 202, 202, 401),
    "api-email-change-confirm-bob":                (401, 400, 400, 400, 400, 400, 200, 400, 401),
    # Issue 10, item 6: 200 with exactly these people. alice is InstituteA's member and eve
    # ProjectC's; bob and chen see alice, grace sees eve, but not those projects.
    "api-people-in-InstituteA":                (401, P("alice"), Z, Z, P("alice"), Z, Z, Z, 401),
    "api-people-in-ProjectC":                  (401, P("eve"), P("eve"), Z, Z, Z, Z, Z, 401),
    # Issue 10, item 7: a leader's membership and the roles are the leaders'; chen supervises.
    "api-memberships-level-alice@ProjectA":        (401, 200, 404, 404, 200, 403, 403, 404, 401),
    "api-memberships-default-alice@ProjectA":      (401, 200, 404, 404, 200, 403, 403, 404, 401),
    "api-memberships-delete-alice@ProjectA":       (401, 204, 404, 404, 204, 403, 403, 404, 401),
    "api-memberships-supervisor-bob@ProjectA":     (401, 200, 404, 404, 200, 403, 403, 404, 401),
    # Anyone signed in asks to join, accepts an invitation they hold, applies for a project.
    "api-join-requests-create-ProjectS":           (401, 201, 201, 201, 201, 201, 201, 201, 401),
    "api-invitations-accept-ProjectS":             (401, 201, 201, 201, 201, 201, 201, 201, 401),
    "api-project-applications-create-InstituteB":  (401, 201, 201, 201, 201, 201, 201, 201, 401),
    # Deciding: what one may see but not decide is refused (403), the rest is missing (404).
    "api-join-requests-approve-farid@ProjectA":    (401, 200, 404, 404, 200, 200, 404, 404, 401),
    "api-join-requests-decline-farid@ProjectA":    (401, 200, 404, 404, 200, 200, 404, 404, 401),
    "api-join-requests-withdraw-farid@ProjectA":   (401, 403, 404, 404, 403, 403, 404, 404, 401),
    "api-invitations-create-ProjectA":             (401, 201, 400, 400, 201, 201, 403, 403, 401),
    "api-invitations-revoke-ProjectD":             (401, 200, 200, 200, 404, 404, 404, 404, 401),
    "api-project-applications-approve-bob":        (401, 200, 404, 404, 200, 404, 403, 404, 401),
    "api-project-applications-withdraw-bob":       (401, 403, 404, 404, 403, 404, 200, 404, 401),
}  # fmt: skip

MATRIX: dict[tuple[str, str], object] = {
    (target, role): expected
    for target, row in GRID.items()
    for role, expected in zip(ROLES, row, strict=True)
}

PROJECT_AS_MISSING = {"errors": {"project": ['There is no project "ProjectA".']}}

# Cells where the application answers otherwise than the rules say: kept visible (strict
# xfail) until decided, never weakened.
KNOWN_BUGS: dict[tuple[str, str], str] = {}


def _cells():
    for (target, role), expected in MATRIX.items():
        marks = []
        route = getattr(TARGETS[target].url, "route", None)
        if route is not None and not _resolves(route[0], **route[1]):
            # The applications app may not provide this page (yet): no cell, not a failure.
            marks.append(pytest.mark.skip(reason=f"url {route[0]!r} does not resolve"))
        if (target, role) in KNOWN_BUGS:
            marks.append(pytest.mark.xfail(strict=True, reason=KNOWN_BUGS[target, role]))
        yield pytest.param(target, role, expected, id=f"{target}/{role}", marks=marks)


# Roles ----------------------------------------------------------------------------------


@pytest.fixture
def person_for(example):
    """person_for(role) -> the Person playing it (None for anonymous)."""

    def make(role: str) -> Person | None:
        if role == "anonymous":
            return None
        if role == "admin":
            return Person.objects.create_superuser("matrix-admin", "admin@example.org")
        if role == "outsider":
            return Person.objects.create_user("matrix-outsider", "outsider@example.org")
        if role == "locked":
            # A member of ProjectA, so that only the lock stands between them and its data.
            person = Person.objects.create_user("matrix-locked", "locked@example.org")
            add_member(example.projects["ProjectA"], person)
            person.is_locked = True
            person.save()
            return person
        return example.people[role]

    return make


def page_client(person: Person | None) -> Client:
    client = Client()
    if person is not None:
        # For the locked person: a session from before the lock, which must count for nothing.
        client.force_login(person)
    return client


def api_client(person: Person | None) -> APIClient:
    client = APIClient()
    if person is not None:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens.issue(person).token}")
    return client


# The matrix -----------------------------------------------------------------------------


@pytest.mark.parametrize(("target", "role", "expected"), list(_cells()))
def test_cell(person_for, target, role, expected):
    spec = TARGETS[target]
    person = person_for(role)
    url = spec.url()
    body = spec.body() if spec.body else None
    if spec.kind == "page":
        response = getattr(page_client(person), spec.method)(url, body)
    else:
        kwargs = {"format": "json"} if body is not None else {}
        response = getattr(api_client(person), spec.method)(url, body, **kwargs)

    _check(response, expected, url, person)

    if spec.kind == "api" and response.status_code >= 400:
        # A refusal holds a message, never data.
        data = response.json()
        assert set(data) <= {"detail", "errors"}, data
        if response.status_code == 400:
            assert data == (spec.refused_as or PROJECT_AS_MISSING)
    if spec.done is not None:
        assert spec.done() == (200 <= response.status_code < 300)


def _check(response, expected, url: str, person: Person | None) -> None:
    status = response.status_code
    if expected == LOGIN:
        assert status == 302, f"{status}, expected a redirect to the sign-in page"
        location = urlsplit(response["Location"])
        assert location.path == reverse("web:login")
        assert f"next={url.replace('/', '%2F')}" in location.query or url in location.query
    elif expected == ADMIN_LOGIN:
        assert status == 302, f"{status}, expected a redirect to the admin's sign-in page"
        location = urlsplit(response["Location"])
        assert location.path == reverse("admin:login")
    elif expected == OWN_PAGE:
        assert status == 302, f"{status}, expected a redirect to one's own page"
        assert response["Location"] == reverse("web:person", kwargs={"username": person.username})
    elif isinstance(expected, frozenset):
        assert status == 200, f"{status}, expected 200 listing {sorted(expected)}"
        assert {row["username"] for row in response.json()["results"]} == expected
    else:
        assert status == expected


# What the lists hold --------------------------------------------------------------------

ALL_PROJECTS = {"InstituteA", "InstituteB", "InstituteC", "ProjectA", "ProjectB", "ProjectC",
                "ProjectD"}  # fmt: skip
VISIBLE_PROJECTS = {
    "eve": {"InstituteC", "ProjectC", "ProjectD"},
    "grace": {"ProjectD"},
    "alice": {"InstituteA", "ProjectA", "ProjectB"},
    "chen": {"ProjectA"},
    "bob": {"ProjectA", "ProjectB"},
    "outsider": set(),
}
VISIBLE_PEOPLE = {
    "eve": {"eve", "farid", "grace"},
    "grace": {"eve", "farid", "grace"},
    "alice": {"alice", "bob", "chen"},
    "chen": {"alice", "bob", "chen"},
    "bob": {"alice", "bob", "chen"},
    "outsider": {"matrix-outsider"},
}
WITH_GRANTS = {"ProjectA", "ProjectD"}
WITH_ALLOCATIONS = {"ProjectA"}


def _results(client: APIClient, path: str) -> list[dict]:
    response = client.get(f"/api/{path}/", {"limit": 1000})
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == len(data["results"])
    return data["results"]


def _list_pids(name: str, rows: list[dict]) -> set[str]:
    if name == "groups":
        return {row["project"] or row["institute"] for row in rows} - {None}
    return {row["project"] for row in rows}


PROJECT_LISTS = {
    # list -> the projects whose things it should hold, of those the person may see
    "projects": ALL_PROJECTS,
    "memberships": ALL_PROJECTS,  # every project of the example has members
    "groups": ALL_PROJECTS,  # every project and institute has its unix group
    "grants": WITH_GRANTS,
    "allocation-pools": WITH_ALLOCATIONS,
    "allocations": WITH_ALLOCATIONS,
}
SHARED_LISTS = {
    "machines": Machine,
    "resource-pools": ResourcePool,
    "resources": Resource,
    "schemes": Scheme,
    "periods": AllocationPeriod,
}
CONTENT_ROLES = ("admin", "eve", "grace", "alice", "chen", "bob", "outsider")


@pytest.mark.parametrize("role", CONTENT_ROLES)
@pytest.mark.parametrize("name", [*PROJECT_LISTS, "people", "group-members", *SHARED_LISTS])
def test_list_content(person_for, name, role):
    person = person_for(role)
    client = api_client(person)
    rows = _results(client, name)
    if name in SHARED_LISTS:
        assert len(rows) == SHARED_LISTS[name].objects.count()
        return
    if name == "group-members":
        # The members of exactly the groups the person sees (with members).
        seen = {row["name"] for row in _results(client, "groups") if row["members"]}
        assert {row["group"] for row in rows} == seen
        return
    if name == "people":
        usernames = {row["username"] for row in rows}
        if role == "admin":
            assert usernames == set(Person.objects.values_list("username", flat=True))
        else:
            assert usernames == VISIBLE_PEOPLE[role]
        return
    pids = {row["pid"] for row in rows} if name == "projects" else _list_pids(name, rows)
    visible = ALL_PROJECTS if role == "admin" else VISIBLE_PROJECTS[role]
    assert pids == visible & PROJECT_LISTS[name]
    if name == "groups":
        software = [row for row in rows if row["software"]]
        assert bool(software) == (role == "admin")
    if name == "memberships":
        people = {row["person"] for row in rows}
        if role != "admin":
            assert people <= VISIBLE_PEOPLE[role]


def test_bob_sees_his_projects_things_and_nothing_of_c_or_d(person_for):
    """The issue's own words: bob's lists hold ProjectA/ProjectB things, none of C or D."""
    bob = api_client(person_for("bob"))
    hidden = {"InstituteC", "ProjectC", "ProjectD"}
    seen: set[str] = set()
    for name in PROJECT_LISTS:
        rows = _results(bob, name)
        pids = {row["pid"] for row in rows} if name == "projects" else _list_pids(name, rows)
        assert not pids & hidden, name
        seen |= pids
    assert {"ProjectA", "ProjectB"} <= seen
    people = {row["username"] for row in _results(bob, "people")}
    assert not people & {"dana", "eve", "farid", "grace"}
    assert {"alice", "bob", "chen"} <= people


def test_eve_sees_nothing_of_institute_a(person_for):
    eve = api_client(person_for("eve"))
    institute_a = {"InstituteA", "ProjectA", "ProjectB"}
    for name in PROJECT_LISTS:
        rows = _results(eve, name)
        pids = {row["pid"] for row in rows} if name == "projects" else _list_pids(name, rows)
        assert not pids & institute_a, name
    people = {row["username"] for row in _results(eve, "people")}
    assert not people & {"alice", "bob", "chen"}
