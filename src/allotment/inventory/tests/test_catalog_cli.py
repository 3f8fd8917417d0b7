"""Provisioners and images through `allot provisioner` and `allot image` (inventory.catalog),
and the inventory's admin pages."""

import json
import re

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from allotment.core import fsm
from allotment.inventory import catalog
from allotment.inventory.models import CapacityChange, Image, Node, Provisioner, Shift
from allotment.inventory.reconcile import run_until_settled
from allotment.inventory.services import import_nodes, nodes_named, request_shift

SHA256 = "sha256:" + "0123456789abcdef" * 4
SHA512 = "sha512:" + "fedcba9876543210" * 8
MD5 = "0123456789abcdef" * 2


def run(capsys, *args: str):
    """Run a command; its JSON output, or (exit code, stdout, stderr) when it fails."""
    capsys.readouterr()
    try:
        call_command(*args)
    except SystemExit as e:
        out = capsys.readouterr()
        return e.code, out.out, out.err
    except CommandError as e:  # bad usage, as call_command reports it (exit 2 on a shell)
        return e.returncode, "", f"error: {e}\n"
    return json.loads(capsys.readouterr().out)


def rows_of(model) -> list[tuple]:
    """Every row as plain values, to show a refusal wrote nothing."""
    return sorted(model.objects.values_list())


# -- provisioners ---------------------------------------------------------------------------


def test_a_provisioner_created_listed_shown_and_changed(db, capsys):
    made = run(
        capsys, "provisioner", "create", "ironic1", "--driver", "ironic", "--options",
        '{"endpoint": "http://127.0.0.1:6385", "timeout": 10}', "--description", "rack r1",
        "--json",
    )  # fmt: skip
    assert made == {
        "name": "ironic1",
        "driver": "ironic",
        "options": {"endpoint": "http://127.0.0.1:6385", "timeout": 10},
        "description": "rack r1",
        "nodes": 0,
        "node_names": "",
    }
    run(capsys, "provisioner", "create", "demo", "--json")  # local, no options
    assert [(p["name"], p["driver"], p["options"]) for p in run(
        capsys, "provisioner", "list", "--json"
    )] == [("demo", "local", {}), ("ironic1", "ironic", {"endpoint": "http://127.0.0.1:6385",
                                                       "timeout": 10})]  # fmt: skip
    changed = run(
        capsys, "provisioner", "set", "ironic1", "--options", '{"cloud": "site-ironic"}',
        "--name", "ironic-a", "--json",
    )  # fmt: skip
    assert changed | {} == made | {
        "name": "ironic-a", "options": {"cloud": "site-ironic"}
    }  # fmt: skip
    assert run(capsys, "provisioner", "show", "ironic-a", "--json") == changed
    # only the options given change
    run(capsys, "provisioner", "set", "ironic-a", "--description", "moved", "--json")
    shown = Provisioner.objects.get(name="ironic-a")
    assert (shown.description, shown.options) == ("moved", {"cloud": "site-ironic"})


def test_the_provisioner_table_says_where_each_one_answers(db, capsys):
    run(capsys, "provisioner", "create", "ironic1", "--driver", "ironic", "--options",
        '{"endpoint": "http://ironic:6385"}', "--json")  # fmt: skip
    capsys.readouterr()
    call_command("provisioner", "list")
    table = capsys.readouterr().out
    assert re.search(r"ironic1\s+│\s+ironic\s+│\s+http://ironic:6385\s+│\s+0\s+│", table)


def test_a_provisioner_shows_the_nodes_it_deploys(inventory, capsys):
    shown = run(capsys, "provisioner", "show", "local", "--json")
    assert (shown["nodes"], shown["node_names"]) == (7, "cnode[1-2],node[1-4],spare1")


@pytest.mark.parametrize(
    ("args", "field", "words"),
    [
        (["--driver", "ironic"], "options",
         'an Ironic provisioner needs "endpoint" (its http(s) URL, no authentication) or '
         '"cloud" (a clouds.yaml entry)'),
        (["--driver", "ironic", "--options", '{"endpoint": "ftp://127.0.0.1:6385"}'], "options",
         "\"endpoint\": 'ftp://127.0.0.1:6385' is not an http(s) URL such as "
         "http://127.0.0.1:6385"),
        (["--driver", "ironic", "--options", '{"endpoint": "http://127.0.0.1:99999"}'],
         "options",
         "\"endpoint\": 'http://127.0.0.1:99999' is not a URL (Port out of range 0-65535)"),
        (["--driver", "ironic", "--options", '{"endpoint": "http://a:1", "cloud": "c"}'],
         "options", 'give "endpoint" or "cloud", not both: only one is used'),
        (["--driver", "ironic", "--options", '{"cloud": "c", "password": "hunter2"}'],
         "options", '"password": credentials never go in the database; put them in '
         'clouds.yaml and name its entry with "cloud"'),
        (["--driver", "ironic", "--options", '{"cloud": "c", "timout": 5}'], "options",
         '"timout" is not an option of an ironic provisioner (it reads endpoint, cloud, '
         "driver, timeout, enroll_timeout, concurrency)"),
        (["--driver", "ironic", "--options", '{"cloud": "c", "concurrency": 0}'], "options",
         '"concurrency": 0 is not a whole number above 0'),
        (["--options", '{"deploy_seconds": -1}'], "options",
         '"deploy_seconds": -1 is not a number of seconds, 0 or more'),
        (["--options", '{"endpoint": "http://127.0.0.1:6385"}'], "options",
         '"endpoint" is not an option of a local provisioner (it reads deploy_seconds)'),
    ],
    ids=["no-endpoint", "ftp", "bad-port", "both", "secret", "typo", "zero", "negative",
         "ironic-option-on-local"],
)  # fmt: skip
def test_a_bad_provisioner_is_refused_naming_it_and_the_field(db, capsys, args, field, words):
    before = rows_of(Provisioner)
    code, _, err = run(capsys, "provisioner", "create", "p1", *args)
    assert code == 1
    assert err == f'error: {field}: Provisioner "p1": {words}.\n'
    assert rows_of(Provisioner) == before


def test_an_unknown_driver_is_refused_by_the_cli_and_by_the_service(db, capsys):
    code, _, err = run(capsys, "provisioner", "create", "p1", "--driver", "xcat")
    assert (code, err) == (2, "error: --driver: 'xcat' is not one of 'local', 'ironic'.\n")
    with pytest.raises(ValidationError) as e:
        catalog.create_provisioner("p1", driver="xcat", options={})
    assert e.value.message_dict == {
        "driver": ['Provisioner "p1": "xcat" is not a provisioner driver; use one of local, '
                   "ironic."]
    }  # fmt: skip
    assert not Provisioner.objects.exists()


def test_a_refused_change_leaves_the_provisioner_as_it_was(db, capsys):
    run(capsys, "provisioner", "create", "ironic1", "--driver", "ironic", "--options",
        '{"endpoint": "http://127.0.0.1:6385"}', "--json")  # fmt: skip
    before = rows_of(Provisioner)
    code, _, err = run(capsys, "provisioner", "set", "ironic1", "--options", "{}")
    assert code == 1 and err.startswith('error: options: Provisioner "ironic1": an Ironic ')
    code, _, err = run(capsys, "provisioner", "set", "ironic1", "--driver", "local")
    assert (code, err) == (
        1,
        'error: options: Provisioner "ironic1": "endpoint" is not an '
        "option of a local provisioner (it reads deploy_seconds).\n",
    )
    run(capsys, "provisioner", "create", "other", "--json")
    code, _, err = run(capsys, "provisioner", "set", "other", "--name", "ironic1")
    assert (code, err) == (1, 'error: name: There is already a provisioner named "ironic1".\n')
    assert run(capsys, "provisioner", "show", "nothing")[2] == (
        'error: There is no provisioner "nothing".\n'
    )
    assert [r for r in rows_of(Provisioner) if r[1] == "ironic1"] == [
        r for r in before if r[1] == "ironic1"
    ]


def test_set_with_nothing_to_change_is_bad_usage(db, capsys):
    run(capsys, "provisioner", "create", "p1", "--json")
    code, _, err = run(capsys, "provisioner", "set", "p1")
    assert code == 2 and "Nothing to change" in err


# -- images ---------------------------------------------------------------------------------


def test_an_image_created_listed_shown_and_changed(db, capsys):
    made = run(
        capsys, "image", "create", "rocky9", "--kind", "batch", "--source-url",
        "http://images.example.org/rocky9.qcow2", "--checksum", SHA256.upper(), "--json",
    )  # fmt: skip
    assert made == {
        "name": "rocky9",
        "kind": "batch",
        "source_url": "http://images.example.org/rocky9.qcow2",
        "checksum": SHA256,  # stored in lower case
        "description": "",
        "nodes": 0,
    }
    run(capsys, "image", "create", "cirros", "--kind", "cloud", "--source-url",
        "https://10.0.0.1/cirros.img", "--checksum", MD5, "--description", "tiny",
        "--json")  # fmt: skip
    assert [i["name"] for i in run(capsys, "image", "list", "--json")] == ["cirros", "rocky9"]
    assert [i["name"] for i in run(capsys, "image", "list", "--kind", "cloud", "--json")] == [
        "cirros"
    ]
    changed = run(capsys, "image", "set", "rocky9", "--checksum", SHA512, "--source-url",
                  "http://localhost:8080/rocky9.1.qcow2", "--json")  # fmt: skip
    assert changed == made | {
        "checksum": SHA512, "source_url": "http://localhost:8080/rocky9.1.qcow2"
    }  # fmt: skip
    assert run(capsys, "image", "show", "rocky9", "--json") == changed


def test_the_image_table_shortens_the_checksum(db, capsys):
    run(capsys, "image", "create", "rocky9", "--kind", "batch", "--source-url",
        "http://i.example.org/r.qcow2", "--checksum", SHA256, "--json")  # fmt: skip
    capsys.readouterr()
    call_command("image", "list")
    assert "sha256:0123456789ab…" in capsys.readouterr().out


CHECKSUM_WORDS = ("is not a checksum; give sha256:<64 hex digits>, sha512:<128 hex digits> or "
                  "an md5 of 32 hex digits.")  # fmt: skip


@pytest.mark.parametrize(
    ("option", "value", "field", "words"),
    [
        ("--checksum", "sha256:abc", "checksum", f"'sha256:abc' {CHECKSUM_WORDS}"),
        ("--checksum", "sha1:" + "a" * 40, "checksum", f"'sha1:{'a' * 40}' {CHECKSUM_WORDS}"),
        ("--checksum", "g" * 32, "checksum", f"'{'g' * 32}' {CHECKSUM_WORDS}"),
        ("--checksum", "sha512:" + "a" * 64, "checksum", f"'sha512:{'a' * 64}' {CHECKSUM_WORDS}"),
        ("--source-url", "images/rocky.qcow2", "source_url",
         "'images/rocky.qcow2' is not an http(s) URL such as "
         "http://images.example.org/hpc.qcow2; the provisioner downloads the image from it "
         "over HTTP(S)."),
        ("--source-url", "file:///srv/rocky.qcow2", "source_url",
         "'file:///srv/rocky.qcow2' is not an http(s) URL such as "
         "http://images.example.org/hpc.qcow2; the provisioner downloads the image from it "
         "over HTTP(S)."),
        ("--source-url", "http://images/rocky.qcow2", "source_url",
         "'http://images/rocky.qcow2' is not a URL whose host is a domain name "
         "(images.example.org), an IP address or localhost; the provisioner downloads the "
         "image from it over HTTP(S)."),
    ],
    ids=["short", "sha1", "not-hex", "sha512-short", "relative", "file", "single-label"],
)  # fmt: skip
def test_a_bad_image_is_refused_naming_it_and_the_field(db, capsys, option, value, field, words):
    good = {"--source-url": "http://images.example.org/r.qcow2", "--checksum": SHA256}
    args = [a for k, v in (good | {option: value}).items() for a in (k, v)]
    code, _, err = run(capsys, "image", "create", "img1", "--kind", "batch", *args)
    assert (code, err) == (1, f'error: {field}: Image "img1": {words}\n')
    assert not Image.objects.exists()


def test_an_image_of_another_kind_is_refused(db, capsys):
    code, _, err = run(capsys, "image", "create", "img1", "--kind", "storage",
                       "--source-url", "http://i.example.org/x", "--checksum", MD5)  # fmt: skip
    assert (code, err) == (2, "error: --kind: 'storage' is not one of 'batch', 'cloud'.\n")
    with pytest.raises(ValidationError) as e:
        catalog.create_image("img1", kind="storage", source_url="http://i.example.org/x",
                             checksum=MD5)  # fmt: skip
    assert e.value.message_dict == {
        "kind": ['Image "img1": "storage" is not a kind of service; use batch (Slurm) or '
                 "cloud (OpenStack)."]
    }  # fmt: skip
    assert not Image.objects.exists()


def test_a_refused_image_change_writes_nothing(db, capsys):
    run(capsys, "image", "create", "rocky9", "--kind", "batch", "--source-url",
        "http://i.example.org/r.qcow2", "--checksum", SHA256, "--json")  # fmt: skip
    before = rows_of(Image)
    code, _, err = run(capsys, "image", "set", "rocky9", "--checksum", "md5", "--description",
                       "new")  # fmt: skip
    assert (code, err) == (1, f"error: checksum: Image \"rocky9\": 'md5' {CHECKSUM_WORDS}\n")
    assert rows_of(Image) == before


# -- changes refused while a shift uses them ------------------------------------------------


def test_a_running_shift_holds_its_provisioners_endpoint_and_its_images_source(inventory, capsys):
    brecca, _ = inventory
    shift = request_shift(nodes_named("spare1"), brecca)
    code, _, err = run(capsys, "provisioner", "set", "local", "--driver", "ironic",
                       "--options", '{"endpoint": "http://127.0.0.1:6385"}')  # fmt: skip
    assert (code, err) == (
        1, 'error: driver: Provisioner "local": its nodes spare1 are in a shift; change its '
        "driver and options once the shift ends (or abort it).\n",
    )  # fmt: skip
    code, _, err = run(capsys, "image", "set", "hpc", "--source-url", "http://i.example.org/n")
    assert (code, err) == (
        1, f'error: source_url: Image "hpc": shift {shift.pk} is deploying it; change its '
        "source_url once the shift ends (or abort it), or create a new image.\n",
    )  # fmt: skip
    # what does not move a deploy may change meanwhile
    assert run(capsys, "provisioner", "set", "local", "--options", '{"deploy_seconds": 1}',
               "--json")["options"] == {"deploy_seconds": 1}  # fmt: skip
    assert run(capsys, "image", "set", "hpc", "--description", "d", "--json")["description"] == "d"

    Provisioner.objects.filter(name="local").update(options={"deploy_seconds": 0})
    run_until_settled(nodes_named("spare1"), timeout=30)
    assert nodes_named("spare1")[0].state == "in_service"
    assert run(capsys, "image", "set", "hpc", "--source-url", "http://i.example.org/n",
               "--json")["nodes"] == 1  # fmt: skip


# -- the admin ------------------------------------------------------------------------------


def url(model, view: str, *args) -> str:
    opts = model._meta
    return reverse(f"admin:{opts.app_label}_{opts.model_name}_{view}", args=args)


def test_the_admin_pages_of_the_inventory_load(inventory, admin_client):
    _, tango = inventory
    import_nodes("more.csv", "name,rack,cpus\nx[1-2],r9,16\n")
    request_shift(nodes_named("node4"), tango)
    run_until_settled(nodes_named("node4"), timeout=30)
    for model in (Node, Provisioner, Image, Shift, CapacityChange):
        page = admin_client.get(url(model, "changelist"))
        assert page.status_code == 200, model
        assert admin_client.get(url(model, "changelist"), {"q": "x"}).status_code == 200
        first = model.objects.order_by("pk").first()
        assert admin_client.get(url(model, "change", first.pk)).status_code == 200, model
        assert admin_client.get(url(model, "history", first.pk)).status_code == 200, model
    listed = admin_client.get(url(Node, "changelist"), {"state": "enrolled"}).content.decode()
    assert ">x1<" in listed and ">x2<" in listed and ">node1<" not in listed
    shift = Shift.objects.get()
    page = admin_client.get(url(Shift, "change", shift.pk)).content.decode()
    assert "node4" in page and "In service" in page  # the inline's node and outcome


def test_a_nodes_state_service_and_shift_are_read_only_in_the_admin(inventory, admin_client):
    node = Node.objects.get(name="node1")
    page = admin_client.get(url(Node, "change", node.pk)).content.decode()
    for field in ("state", "service", "shift", "destination", "provision_id", "name", "step"):
        assert f'name="{field}"' not in page, field
    assert 'name="rack"' in page and 'name="maintenance"' in page
    assert "imported as in service" in page  # its history
    form = {
        "rack": "r7", "cpus": 96, "memory_mb": 256000, "gpus": 0, "macs": "[]", "disks": "[]",
        "tags": "[]", "maintenance": "", "maintenance_reason": "left over", "site": "",
        "bmc_address": "", "bmc_driver": "", "provisioner": Provisioner.objects.get().pk,
        "state": "available", "service": "",  # ignored: read-only
    }  # fmt: skip
    response = admin_client.post(url(Node, "change", node.pk), form)
    assert response.status_code == 302
    node.refresh_from_db()
    assert (node.rack, node.cpus, node.state, node.service.name) == ("r7", 96, "in_service",
                                                                     "brecca")  # fmt: skip
    assert node.maintenance_reason == ""  # maintenance off clears it, as `allot node set`


def test_the_admin_refuses_a_provisioner_and_an_image_in_the_clis_words(db, admin_client):
    response = admin_client.post(
        url(Provisioner, "add"), {"name": "ir", "driver": "ironic", "options": "{}"}
    )
    assert response.status_code == 200  # the form again, with the error
    assert ("Provisioner &quot;ir&quot;: an Ironic provisioner needs &quot;endpoint&quot;"
            in response.content.decode())  # fmt: skip
    assert not Provisioner.objects.exists()
    form = {"name": "img", "kind": "batch", "source_url": "http://i.example.org/x",
            "checksum": "sha256:12"}  # fmt: skip
    response = admin_client.post(url(Image, "add"), form)
    assert "Image &quot;img&quot;: &#x27;sha256:12&#x27; is not a checksum" in (
        response.content.decode()
    )
    assert not Image.objects.exists()
    response = admin_client.post(url(Image, "add"), form | {"checksum": MD5.upper()})
    assert response.status_code == 302
    assert Image.objects.get().checksum == MD5


def test_the_admin_records_are_read_only_and_actions_go_through_the_services(
    inventory, admin_client
):
    brecca, _ = inventory
    shift = request_shift(nodes_named("spare1"), brecca)
    assert admin_client.get(url(Shift, "add")).status_code == 403
    assert admin_client.get(url(CapacityChange, "add")).status_code == 403
    spare = Node.objects.get(name="spare1")
    response = admin_client.post(
        url(Node, "changelist"), {"action": "retry", "_selected_action": [spare.pk]},
        follow=True,
    )  # fmt: skip
    assert (
        '<li class="error">Node &quot;spare1&quot; is enrolled; &quot;retry&quot; is allowed '
        "only from drain_timeout, join_failed, leave_failed, provision_failed.</li>"
    ) in response.content.decode()
    response = admin_client.post(
        url(Shift, "changelist"), {"action": "abort", "_selected_action": [shift.pk]},
        follow=True,
    )  # fmt: skip
    assert f"Shift {shift.pk}: aborted." in response.content.decode()
    shift.refresh_from_db()
    assert shift.aborted and shift.finished_at is not None
    assert fsm.history(spare).count() == 0  # never started: nothing moved
