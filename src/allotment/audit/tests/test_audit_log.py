"""Every change to the ledger is in the audit log, with who made it and by which path."""

import getpass
from html.parser import HTMLParser

from auditlog.models import LogEntry

from allotment.audit.services import unaudited_models
from allotment.cli.output import audited_as_cli
from allotment.core.validation import save_validated
from allotment.people.models import CareerLevel, Person
from allotment.projects.models import Project, ProjectMembership
from allotment.projects.services import create_project

Action = LogEntry.Action


def last_entry(obj) -> LogEntry:
    return LogEntry.objects.get_for_object(obj).order_by("-pk").first()


def rename(pid: str, name: str) -> Project:
    project = Project.objects.get(pid=pid)
    project.name = name
    return save_validated(project)


class FormInputs(HTMLParser):
    """What a browser would submit from the page's form: every named, enabled value."""

    def __init__(self):
        super().__init__()
        self.data: dict[str, list[str]] = {}
        self._select: str | None = None
        self._textarea: str | None = None

    def _add(self, name, value):
        self.data.setdefault(name, []).append(value)

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        name = a.get("name")
        if tag == "input" and name and a.get("type") not in ("submit", "button"):
            if a.get("type") in ("checkbox", "radio") and "checked" not in a:
                return
            self._add(name, a.get("value") or ("on" if a.get("type") == "checkbox" else ""))
        elif tag == "select" and name:
            self._select = name
            self.data.setdefault(name, [])
        elif tag == "option" and self._select and "selected" in a:
            self._add(self._select, a.get("value", ""))
        elif tag == "textarea" and name:
            self._textarea = name
            self._add(name, "")

    def handle_data(self, data):
        if self._textarea:
            self.data[self._textarea][-1] += data

    def handle_endtag(self, tag):
        if tag == "select":
            self._select = None
        elif tag == "textarea":
            if self._textarea:
                value = self.data[self._textarea][-1]
                self.data[self._textarea][-1] = value.removeprefix("\n")
            self._textarea = None


def submitted_form(client, url: str) -> dict[str, list[str]]:
    page = client.get(url)
    assert page.status_code == 200
    parser = FormInputs()
    parser.feed(page.content.decode())
    return parser.data


def test_every_ledger_table_is_audited():
    assert unaudited_models() == []


def test_creating_a_project_logs_a_create_entry(example):
    project = create_project("ProjectE", "Project E", parent=example.projects["InstituteA"])
    entry = last_entry(project)
    assert entry.action == Action.CREATE
    assert entry.object_repr == "ProjectE"
    assert entry.changes_dict["name"] == [None, "Project E"]
    assert entry.changes_dict["pid"] == [None, "ProjectE"]


def test_updating_a_project_logs_exactly_the_changed_field_old_and_new(example):
    project = rename("ProjectA", "Project A, renamed")
    entry = last_entry(project)
    assert entry.action == Action.UPDATE
    assert entry.changes_dict == {"name": ["Project A", "Project A, renamed"]}


def test_deleting_a_membership_logs_a_delete_entry(example):
    membership = ProjectMembership.objects.get(project__pid="ProjectB", person__username="bob")
    pk = membership.pk
    membership.delete()
    entry = LogEntry.objects.get(
        content_type__model="projectmembership", object_pk=str(pk), action=Action.DELETE
    )
    assert entry.object_repr == "Bob Brennan (bob) in ProjectB"


def test_a_cli_change_is_marked_as_made_through_the_cli(example, monkeypatch):
    monkeypatch.setenv("ALLOTMENT_ACTOR", "nobody-in-the-ledger")
    with audited_as_cli("project set"):
        project = rename("ProjectB", "Project B via CLI")
    entry = last_entry(project)
    assert entry.additional_data == {
        "via": "cli",
        "command": "project set",
        "os_user": getpass.getuser(),
    }
    assert entry.actor is None


def test_a_cli_change_names_the_person_in_allotment_actor_as_actor(example, monkeypatch):
    monkeypatch.setenv("ALLOTMENT_ACTOR", "alice")
    with audited_as_cli("x"):
        project = rename("ProjectB", "Project B by Alice")
    entry = last_entry(project)
    assert entry.additional_data["via"] == "cli"
    assert entry.actor == example.people["alice"]


def test_an_admin_edit_of_a_career_level_records_the_admin_as_actor(admin_client, admin_user):
    level = CareerLevel.objects.get(name="Undergraduate")
    url = f"/admin/people/careerlevel/{level.pk}/change/"
    response = admin_client.post(url, {"name": "Undergrad", "rank": "10", "description": ""})
    assert response.status_code == 302
    entry = last_entry(level)
    assert (entry.action, entry.actor) == (Action.UPDATE, admin_user)
    assert entry.changes_dict == {"name": ["Undergraduate", "Undergrad"]}


def test_an_admin_edit_of_a_project_records_the_admin_and_shows_in_its_history(
    admin_client, admin_user
):
    project = Project.objects.get(pid="ProjectA")
    url = f"/admin/projects/project/{project.pk}/change/"
    form = submitted_form(admin_client, url)
    assert form["name"] == ["Project A"]
    form["name"] = ["Project A, edited in the admin"]
    response = admin_client.post(url, form)
    assert response.status_code == 302, response.context and response.context["errors"]
    entry = last_entry(project)
    assert (entry.action, entry.actor) == (Action.UPDATE, admin_user)
    assert entry.changes_dict == {"name": ["Project A", "Project A, edited in the admin"]}

    history = admin_client.get(f"/admin/projects/project/{project.pk}/history/")
    assert history.status_code == 200
    assert "Project A, edited in the admin" in history.content.decode()


def test_the_site_wide_audit_log_lists_the_latest_change(admin_client):
    entry = last_entry(rename("ProjectC", "Project C, listed"))
    response = admin_client.get("/admin/auditlog/logentry/")
    assert response.status_code == 200
    assert f'href="/admin/auditlog/logentry/{entry.pk}/change/"' in response.content.decode()


def test_a_person_password_is_masked_in_the_log(example):
    person = Person(username="hana", first_name="Hana", last_name="Hall")
    person.set_password("correct horse battery staple")
    save_validated(person)
    assert last_entry(person).changes_dict["password"] == [None, "(changed)"]

    old_hash = person.password
    person.set_password("another long passphrase")
    person.save()
    updated = last_entry(person)
    assert updated.action == Action.UPDATE
    assert updated.changes_dict["password"] == ["(changed)", "(changed)"]
    assert old_hash != person.password
