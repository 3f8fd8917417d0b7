"""Every admin page of the ledger renders, and the project pages show the tree."""

import re

import pytest
from auditlog.models import LogEntry
from django.apps import apps
from django.contrib import admin
from django.test import RequestFactory
from django.urls import reverse

from allotment.core.validation import save_validated
from allotment.grants.models import AllocationCap, AllocationPool
from allotment.projects.models import AllocationMode, Project
from allotment.resources.models import Machine, ResourcePool
from allotment.usage.models import ImportRun, Job, QuarantinedRecord

ADMIN_MODELS = sorted(
    (
        m
        for m in apps.get_models()
        if admin.site.is_registered(m) and (m.__module__.startswith("allotment.") or m is LogEntry)
    ),
    key=lambda m: m._meta.label,
)
TREE_CELL = re.compile(r'<th class="field-tree_pid[^"]*">(.*?)</th>', re.S)


def url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def result_table(response) -> str:
    """The changelist's table of results, without the filters beside it."""
    assert response.status_code == 200
    html = response.content.decode()
    match = re.search(r'<table id="result_list">.*?</table>', html, re.S)
    assert match, "no result table on the page"
    return match.group(0)


def listed_pids(response) -> list[str]:
    """The pids in the project column, in order, without the tree's indentation marks."""
    cells = TREE_CELL.findall(result_table(response))
    return [re.sub(r"<[^>]+>", "", cell).split()[-1] for cell in cells]


def a_cap() -> AllocationCap:
    """The example site has no cap: give ProjectD one under a capped ProjectC."""
    project_c = Project.objects.get(pid="ProjectC")
    project_c.allocation_mode = AllocationMode.CAPPED
    save_validated(project_c)
    return save_validated(
        AllocationCap(
            project=Project.objects.get(pid="ProjectD"),
            resource_pool=ResourcePool.objects.get(name="CPU Hours"),
            quantity=5,
        )
    )


def an_import_run() -> ImportRun:
    return ImportRun.objects.create(format="sacct", machine_name="brecca", sources="x.txt")


def a_quarantined_record() -> QuarantinedRecord:
    return QuarantinedRecord.objects.create(
        kind="job", machine_name="brecca", key="42", reason="unknown_person",
        detail='no person or account "zed" on this machine', source="x.txt:2", record={},
    )  # fmt: skip


def a_job() -> Job:
    return Job.objects.create(
        machine=Machine.objects.get(name="brecca"), job_id="42", start_ts=0, end_ts=60,
        elapsed=60, cores=1, nodes=1, fingerprint=1,
    )  # fmt: skip


def person(username: str):
    from allotment.people.models import Person

    return Person.objects.get(username=username)


def a_join_request():
    from allotment.applications import services

    return services.request_to_join(person("farid"), Project.objects.get(pid="ProjectA"))


def an_invitation():
    from allotment.applications import services

    project = Project.objects.get(pid="ProjectA")
    return services.invite(project, "new@example.org", None, operator=True)[0]


def a_project_application():
    from allotment.applications import services

    institute = Project.objects.get(pid="InstituteA")
    return services.apply_for_project(person("bob"), institute, "Thesis", "T")


MAKE_ONE = {
    AllocationCap: a_cap,
    ImportRun: an_import_run,
    QuarantinedRecord: a_quarantined_record,
    Job: a_job,
}


def an_email_change():
    from allotment.people import email

    return email.request_change(person("bob"), "bob.new@example.org")[0]


def the_inventory():
    """The example site's inventory (site.load leaves it out: most tests need none)."""
    from allotment.demo import site
    from allotment.inventory.models import Node

    if not Node.objects.exists():
        site.load_inventory()


def first_of(label: str):
    def make():
        from django.apps import apps

        the_inventory()
        return apps.get_model(label).objects.first()

    return make


def a_shift():
    from allotment.inventory.services import nodes_named, request_shift
    from allotment.resources.models import Machine

    the_inventory()
    return request_shift(nodes_named("node4"), Machine.objects.get(name="tango"))


def a_capacity_change():
    from allotment.inventory import capacity
    from allotment.inventory.models import Node
    from allotment.resources.models import Machine

    the_inventory()
    return capacity.change(Machine.objects.get(name="tango"), Node.objects.get(name="node4"), +1,
                           None)  # fmt: skip


MAKE_BY_LABEL = {
    "inventory.Node": first_of("inventory.Node"),
    "inventory.Provisioner": first_of("inventory.Provisioner"),
    "inventory.Image": first_of("inventory.Image"),
    "inventory.Shift": a_shift,
    "inventory.CapacityChange": a_capacity_change,
    "people.EmailChange": an_email_change,
    "applications.JoinRequest": a_join_request,
    "applications.Invitation": an_invitation,
    "applications.ProjectApplication": a_project_application,
}


def test_the_admin_covers_every_allotment_app_and_the_audit_log():
    labels = {m._meta.app_label for m in ADMIN_MODELS}
    assert labels == {
        "applications", "auditlog", "grants", "groups", "inventory", "people", "projects",
        "resources", "usage",
    }  # fmt: skip


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m._meta.label)
def test_changelist_and_search_pages_render(admin_client, model):
    assert admin_client.get(url(model, "changelist")).status_code == 200
    assert admin_client.get(url(model, "changelist"), {"q": "a"}).status_code == 200


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m._meta.label)
def test_add_page_renders_where_adding_is_allowed(admin_client, admin_user, model):
    request = RequestFactory().get("/")
    request.user = admin_user
    allowed = admin.site.get_model_admin(model).has_add_permission(request)
    assert admin_client.get(url(model, "add")).status_code == (200 if allowed else 403)


@pytest.mark.parametrize("model", ADMIN_MODELS, ids=lambda m: m._meta.label)
def test_change_and_history_pages_of_the_first_object_render(admin_client, model):
    obj = model._default_manager.order_by("pk").first()
    if obj is None and model in MAKE_ONE:
        obj = MAKE_ONE[model]()
    if obj is None and model._meta.label in MAKE_BY_LABEL:
        obj = MAKE_BY_LABEL[model._meta.label]()
    assert obj is not None, f"no {model._meta.verbose_name} to show: add one to MAKE_ONE"
    assert admin_client.get(url(model, "change", obj.pk)).status_code == 200
    assert admin_client.get(url(model, "history", obj.pk)).status_code == 200


def test_the_project_changelist_lists_projects_in_tree_order(admin_client):
    response = admin_client.get(url(Project, "changelist"))
    assert listed_pids(response) == [
        "InstituteA",
        "ProjectA",
        "ProjectB",
        "InstituteB",
        "InstituteC",
        "ProjectC",
        "ProjectD",
    ]


def test_the_subtree_filter_shows_a_project_and_everything_below_it(admin_client):
    response = admin_client.get(url(Project, "changelist"), {"subtree": "InstituteC"})
    pids = listed_pids(response)
    assert pids == ["InstituteC", "ProjectC", "ProjectD"]
    assert "ProjectA" not in pids


def test_the_project_change_page_shows_the_pid_read_only(admin_client):
    project = Project.objects.get(pid="ProjectA")
    response = admin_client.get(url(Project, "change", project.pk))
    assert response.status_code == 200
    html = response.content.decode()
    assert 'name="pid"' not in html
    assert '<div class="readonly">ProjectA</div>' in html
    assert 'name="name"' in html


def test_the_allocation_pool_changelist_shows_what_was_allocated(admin_client):
    table = result_table(admin_client.get(url(AllocationPool, "changelist")))
    rows = re.findall(
        r'<th class="field-project[^"]*"><a [^>]*>([^<]+)</a></th>'
        r'<td class="field-resource_pool[^"]*">([^<]+)</td>'
        r'<td class="field-period[^"]*">([^<]+)</td>'
        r'<td class="field-allocated_col">([^<]+)</td>',
        table,
    )
    assert sorted(rows) == [
        ("ProjectA", "CPU Hours", "2100", "60 hours"),
        ("ProjectA", "Disk Space", "2100", "600 KB"),
    ]


def test_an_anonymous_visitor_is_sent_to_the_login_page(client):
    response = client.get("/admin/projects/project/")
    assert response.status_code == 302
    assert response.url == "/admin/login/?next=/admin/projects/project/"
