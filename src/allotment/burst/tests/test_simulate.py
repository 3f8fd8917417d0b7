"""The burst simulator: a tiny trace worked out by hand, its decisions against the agent's
on the same state, its limits over a real trace and random ones, the SWF reader, the
clouds.yaml errors, the command and stored runs."""

import gzip
import json
import xml.etree.ElementTree as ET
from collections import Counter
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.management import call_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allotment.burst import reconcile, services, simulate
from allotment.burst.local import LocalQueue
from allotment.burst.models import VM, Cloud
from allotment.burst.simulate import ConfigError, Simulator, parse_config, read_swf
from allotment.resources.models import Machine, MachineCategory, MachineKind

RICC = Path("/work/shared/traces/RICC-2010-2.swf.gz")
EXAMPLE = Path(__file__).resolve().parents[4] / "examples" / "clouds.yaml"

ONE_CLOUD = {
    "cycle_s": 10,
    "clouds": [
        {
            "name": "nimbus",
            "price_per_core_hour": 0.36,
            "quota": {"instances": 4, "cores": 8},
            "flavors": [
                {"name": "small", "cores": 1, "ram_mb": 1000},
                {"name": "medium", "cores": 2, "ram_mb": 2000},
            ],
            "idle_keep": 100,
            "boot_time": 60,
            "registration_time": {"dist": "fixed", "s": 30},
        }
    ],
}


def swf_line(number, submit, run, procs, mem_kb=-1, user=1, group=1, queue=1, alloc=None):
    alloc = procs if alloc is None else alloc
    fields = [number, submit, 0, run, alloc, -1, -1, procs, 3600, mem_kb, 1, user, group,
              -1, queue, 1, -1, -1]  # fmt: skip
    return " ".join(str(f) for f in fields)


def write_swf(path: Path, lines: list[str], epoch: int = 1_272_639_895) -> Path:
    header = [f"; UnixStartTime: {epoch}", "; TimeZoneString: Asia/Tokyo", ";"]
    with gzip.open(path, "wt") as f:
        f.write("\n".join(header + lines) + "\n")
    return path


# -- a tiny trace, by hand ----------------------------------------------------------------


def tiny() -> Simulator:
    sim = Simulator(parse_config(ONE_CLOUD))
    sim.add_job(0, 100, 1, account="a")
    sim.add_job(5, 50, 1, account="a")
    sim.add_job(200, 10, 4, account="b")  # 4 cores: no flavor of any cloud
    sim.add_job(300, 20, 1, account="a")
    return sim


def test_a_tiny_trace_gives_the_waits_vms_and_vm_hours_worked_out_by_hand():
    # t=0: job 0 waits; the decision at 0 boots vm1 (active 60, registered 90).
    # t=5: job 1 waits; the decision at 10 sees 2 jobs and 1 VM coming: boots vm2 (→ 100).
    # t=90: job 0 starts on vm1 (wait 90), ends 190; vm1 idle from 190, retired at 290.
    # t=100: job 1 starts on vm2 (wait 95), ends 150; vm2 idle from 150, retired at 250.
    # t=300: job 3 waits; the decision at 300 boots vm3 (→ 390): wait 90, ends 410,
    # retired at 510. VM seconds: 290 + 240 + 210 = 740; busy core-seconds 170.
    result = tiny().run().summary
    assert {k: result[k] for k in ("jobs", "jobs_run", "jobs_fit_nowhere", "jobs_never_run",
                                   "vms_booted", "wait_mean_s", "wait_p95_s", "wait_max_s",
                                   "utilisation", "vm_hours_by_cloud", "vm_hours_by_project",
                                   "cost", "refusals", "vms_failed")} == {
        "jobs": 4, "jobs_run": 3, "jobs_fit_nowhere": 1, "jobs_never_run": 0,
        "vms_booted": 3, "wait_mean_s": 91.7, "wait_p95_s": 95.0, "wait_max_s": 95.0,
        "utilisation": round(170 / 740, 4),
        "vm_hours_by_cloud": {"nimbus": round(740 / 3600, 2)},
        "vm_hours_by_project": {"a": round(740 / 3600, 2)},
        "cost": {"total": 0.07, "by_cloud": {"nimbus": 0.07}},  # 740 core-s at 0.36/h
        "refusals": {}, "vms_failed": {},
    }  # fmt: skip
    assert result["vms_per_day"] == {"mean": 3.0, "max": 3, "full_days": 1}
    assert result["peaks"]["nimbus"] == {
        "boots_per_cycle": 1, "cores": 2, "instances": 2, "ram_mb": 2000, "starting": 2
    }  # fmt: skip


def test_a_vm_takes_the_jobs_that_fit_its_room_and_is_charged_by_their_core_seconds():
    config = parse_config({**ONE_CLOUD, "clouds": [{**ONE_CLOUD["clouds"][0], "flavors": [
        {"name": "quad", "cores": 4, "ram_mb": 4000}]}]})  # fmt: skip
    sim = Simulator(config)
    sim.add_job(0, 300, 1, account="a")  # one quad VM for both groups' first jobs...
    sim.add_job(0, 100, 3, account="b")
    result = sim.run().summary
    # The decision at 0 boots a quad for a (4 jobs a VM) and one for b: each starts at 90
    # on the first VM registered (vm1 takes both: 1 + 3 cores). vm2 idles from 90 to 190.
    assert result["vms_booted"] == 2
    assert result["wait_mean_s"] == 90.0
    # vm1: 0 → 490 (idle from 390), shared 300:300 core-seconds between a and b.
    # vm2: 0 → 190, all to a, whose demand booted it.
    assert result["vm_hours_by_project"] == {"a": round((245 + 190) / 3600, 2),
                                             "b": round(245 / 3600, 2)}  # fmt: skip


def test_a_boot_past_its_timeout_fails_is_backed_off_and_another_flavor_or_cloud_serves():
    spec = json.loads(json.dumps(ONE_CLOUD))
    spec["clouds"][0]["boot_timeout"] = 50  # every boot (60 s) times out
    spec["clouds"].append({**spec["clouds"][0], "name": "cumulus", "priority": 20,
                           "boot_timeout": 900})  # fmt: skip
    sim = Simulator(parse_config(spec))
    sim.add_job(0, 100, 1, account="a")
    result = sim.run().summary
    # vm1 on nimbus fails at 50 (backed off 120 s); the decision at 50 sends the job to
    # cumulus: booted 50, registered 140.
    assert result["vms_failed"] == {"boot timeout": 1}
    assert result["vms_booted_by_cloud"] == {"cumulus": 1, "nimbus": 1}
    assert result["wait_mean_s"] == 140.0
    assert result["refusals"] == {}


def test_a_spent_budget_leaves_its_jobs_waiting_and_counted():
    sim = Simulator(parse_config({**ONE_CLOUD, "budgets": {"a": 0, "b": 5}}))
    # a's job needs 2 cores, more than b's VM has: had it fitted, the batch system would
    # have started it there once b's job ended, as Slurm does in a shared partition.
    sim.add_job(0, 100, 2, account="a")
    sim.add_job(0, 100, 1, account="b")
    result = sim.run().summary
    assert (result["jobs_run"], result["jobs_never_run"]) == (1, 1)
    # a's VM refused at each decision while the run lasted: cycles 0, 10, ..., 290.
    assert result["refusals"] == {"allocation spent": 30}
    assert result["vm_hours_by_project"] == {"b": round(290 / 3600, 2)}


def test_an_idle_vm_kept_as_headroom_gives_way_to_jobs_it_cannot_run():
    spec = json.loads(json.dumps(ONE_CLOUD))
    spec["clouds"][0].update(quota={"instances": 1}, idle_keep=0, idle_headroom=1)
    sim = Simulator(parse_config(spec))
    sim.add_job(0, 10, 1)  # a small VM, then kept idle as the cloud's headroom
    sim.add_job(200, 10, 2)  # needs a medium: the one instance is the idle small VM
    assert sim.run().summary["jobs_never_run"] == 0


# -- the same decisions as the agent ------------------------------------------------------


def sim_twin(clouds: list[Cloud], budgets: dict | None = None) -> Simulator:
    """The simulator's clouds as the agent's: same settings, quota and flavors; boots that
    never finish, as the local clouds' here."""
    spec = {"cycle_s": 10, "budgets": budgets or {}, "clouds": []}
    for c in clouds:
        c.refresh_from_db()
        q = c.state.quota
        spec["clouds"].append({
            "name": c.name, "priority": c.priority, "max_starting": c.max_starting,
            "max_boots_per_cycle": c.max_boots_per_cycle, "idle_keep": c.idle_keep,
            "quota": {k: q[k] for k in ("instances", "cores", "ram_mb")},
            "flavors": [{"name": f.name, "cores": f.cores, "ram_mb": f.ram_mb}
                        for f in c.flavors.all()],
            "boot_time": 3600, "boot_timeout": 7200,
        })  # fmt: skip
    return Simulator(parse_config(spec))


def boots_of(vms) -> Counter:
    return Counter((vm.cloud if isinstance(vm.cloud, str) else vm.cloud.name,
                    vm.flavor if isinstance(vm.flavor, str) else vm.flavor.name,
                    vm.image, vm.account, vm.group) for vm in vms)  # fmt: skip


@pytest.fixture
def two_clouds(burst_site):
    brecca, nimbus = burst_site
    nimbus.options = {**nimbus.options, "boot_seconds": 3600}
    nimbus.max_starting, nimbus.max_boots_per_cycle = 4, 2
    nimbus.save()
    machine = Machine.objects.create(
        name="cumulus", kind=MachineKind.CLOUD, category=MachineCategory.objects.first()
    )
    cumulus = Cloud.objects.create(
        machine=machine, driver="local", priority=20, default_image="burst-worker",
        options={"boot_seconds": 3600, "quota": {"instances": 2, "cores": 4, "ram_mb": 4000}},
        max_starting=2,
    )  # fmt: skip
    cumulus.serves.add(brecca)
    for cloud in (nimbus, cumulus):
        services.refresh(cloud)
    return brecca, [nimbus, cumulus]


@pytest.mark.django_db
def test_the_simulator_decides_as_the_agent_on_the_same_state(two_clouds):
    brecca, clouds = two_clouds
    queue = LocalQueue(brecca)
    sim = sim_twin(clouds)

    def submit(account, cores, memory_mb, count):
        queue.submit(account, cores=cores, memory_mb=memory_mb, seconds=600, count=count)
        for _ in range(count):
            sim.add_job(sim.now, 600, cores, memory_mb, account=account)
        sim.advance(sim.now)

    submit("projecta", 1, 0, 4)
    submit("projectb", 2, 1500, 3)
    services.run_cycle(brecca)
    agent_first = boots_of(VM.objects.all())
    sim_first = sim.apply(sim.decision())
    assert boots_of(sim_first) == agent_first
    # nimbus boots 2 a cycle, cumulus takes the rest up to its 2 starting VMs.
    assert sorted(agent_first.elements()) == [
        ("cumulus", "local.medium", "burst-worker", "projectb", "projectb|burst|2|1500|||"),
        ("cumulus", "local.small", "burst-worker", "projecta", "projecta|burst|1|0|||"),
        ("nimbus", "local.medium", "burst-worker", "projectb", "projectb|burst|2|1500|||"),
        ("nimbus", "local.small", "burst-worker", "projecta", "projecta|burst|1|0|||"),
    ]
    # The VMs boot (for an hour); more jobs come: the next decision nets the VMs coming,
    # the quota and the starting throttle used by them.
    for vm in reconcile.targets():
        reconcile.step(vm)
    assert set(VM.objects.values_list("state", flat=True)) == {"booting"}
    submit("projecta", 1, 0, 2)
    submit("projectc", 2, 0, 1)
    cycle = services.run_cycle(brecca)
    sim.now += 10
    decision = sim.decision()
    second = sim.apply(decision)
    agent_second = boots_of(VM.objects.all()) - agent_first
    assert boots_of(second) == agent_second
    assert dict(decision.refusals) == cycle.report["refusals"]
    assert sum(agent_second.values()) == 2 and cycle.report["refusals"]


@pytest.mark.django_db
def test_the_simulator_refuses_a_spent_allocation_as_the_agent(two_clouds, vm_hours):
    brecca, clouds = two_clouds
    queue = LocalQueue(brecca)
    queue.submit("projecta", cores=1, seconds=60, count=2)
    queue.submit("projectb", cores=1, seconds=60, count=2)  # a grant with no allocation
    cycle = services.run_cycle(brecca)
    sim = sim_twin(clouds, budgets={"projecta": 10, "projectb": 0})
    for account in ("projecta", "projecta", "projectb", "projectb"):
        sim.add_job(0, 60, 1, account=account)
    sim.advance(0)
    decision = sim.decision()
    assert boots_of(sim.apply(decision)) == boots_of(VM.objects.all())
    assert dict(decision.refusals) == cycle.report["refusals"] == {"allocation spent": 2}


# -- limits over whole runs ---------------------------------------------------------------


def assert_within_limits(summary: dict) -> None:
    for cloud, peak in summary["peaks"].items():
        for key, value in peak.items():
            limit = summary["limits"][cloud][key]
            assert limit is None or value <= limit, f"{cloud} {key}: {value} over {limit}"


@pytest.mark.skipif(not RICC.exists(), reason="the RICC trace is not on this machine")
def test_ricc_first_week_on_the_example_clouds_runs_every_job_that_fits_within_limits():
    config = simulate.load_config(EXAMPLE)
    for cloud in config.clouds:  # tighter, so the limits bind
        cloud.quota = {**cloud.quota, "cores": min(cloud.quota.get("cores") or 800, 800)}
        cloud.max_starting = 20
    trace = read_swf(RICC, "2010-05-01", "2010-05-08")
    result = Simulator(config, trace).run().summary
    assert result["jobs"] == 5669
    assert result["jobs_fit_nowhere"] == 636  # more cores than any flavor (64)
    assert result["jobs_run"] + result["jobs_never_run"] == 5669 - 636
    assert result["jobs_never_run"] == 0
    assert result["refusals"]["quota: cores"] > 0  # the limits did bind...
    assert_within_limits(result)  # ...and were never exceeded
    for cloud, peak in result["peaks"].items():
        assert peak["starting"] == 20, cloud


clouds_strategy = st.lists(
    st.fixed_dictionaries({
        "quota": st.fixed_dictionaries({"instances": st.integers(1, 6),
                                        "cores": st.integers(2, 16)}),
        "max_starting": st.integers(1, 4),
        "max_boots_per_cycle": st.integers(1, 3),
        "idle_keep": st.sampled_from([0, 30, 300]),
        "idle_headroom": st.integers(0, 2),
        "boot_time": st.fixed_dictionaries({"dist": st.just("uniform"),
                                            "min_s": st.just(5), "max_s": st.just(200)}),
        "boot_timeout": st.sampled_from([100, 900]),
    }),
    min_size=1, max_size=3,
)  # fmt: skip
jobs_strategy = st.lists(
    st.tuples(st.integers(0, 2000), st.integers(0, 500), st.integers(1, 3),
              st.sampled_from(["a", "b", "c"])),
    min_size=1, max_size=40,
)  # fmt: skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clouds=clouds_strategy, jobs=jobs_strategy, seed=st.integers(0, 5))
def test_a_run_never_exceeds_a_quota_or_throttle_and_accounts_for_every_job(clouds, jobs, seed):
    spec = {"seed": seed, "cycle_s": 10, "clouds": [
        {**c, "name": f"c{i}", "flavors": [{"name": "one", "cores": 1, "ram_mb": 1000},
                                           {"name": "two", "cores": 2, "ram_mb": 2000}]}
        for i, c in enumerate(clouds)]}  # fmt: skip
    sim = Simulator(parse_config(spec))
    for submit, run, cores, account in sorted(jobs):
        sim.add_job(submit, run, cores, account=account)
    result = sim.run().summary
    assert_within_limits(result)
    fits = sum(1 for _, _, cores, _ in jobs if cores <= 2)
    assert result["jobs_fit_nowhere"] == len(jobs) - fits
    assert result["jobs_run"] + result["jobs_never_run"] == fits
    assert result["jobs_never_run"] == 0
    assert 0 < result["utilisation"] <= 1 or not any(run for _, run, c, _ in jobs if c <= 2)


# -- the trace and the clouds file ------------------------------------------------------


def test_the_swf_reader_takes_cores_memory_account_and_partition_as_the_agent_groups(tmp_path):
    path = write_swf(tmp_path / "t.swf.gz", [
        swf_line(1, 0, 60, 8, mem_kb=1_200_000, group=3, queue=2),
        swf_line(2, 40, -1, -1, alloc=4, user=7, group=-1),  # requested unknown: allocated
        swf_line(3, 86_400, 10, -1, alloc=-1),  # no processors at all
        swf_line(4, -1, 10, 1),  # no submit time
    ])  # fmt: skip
    trace = read_swf(path)
    assert (trace.epoch, trace.zone, trace.invalid) == (1_272_639_895, "Asia/Tokyo", 2)
    assert trace.submit == [0.0, 40.0]
    assert trace.run == [60.0, 0.0]
    assert trace.cores == [8, 4]
    assert trace.memory_mb == [9375, 0]  # 1.2 GB per processor times 8
    assert trace.account == ["g3", "u7"]
    assert trace.partition == ["q2", "q1"]


def test_the_swf_reader_cuts_by_local_time_and_speeds_arrivals_up(tmp_path):
    # UnixStartTime is 2010-05-01 00:04:55 in Tokyo.
    path = write_swf(tmp_path / "t.swf.gz", [swf_line(n, s, 60, 1) for n, s in
                                            enumerate([0, 1000, 86_400, 90_000], 1)])  # fmt: skip
    assert read_swf(path, "2010-05-01T00:10:00", "2010-05-02T00:04:55").submit == [1000.0]
    assert read_swf(path, speedup=10).submit == [0.0, 100.0, 8640.0, 9000.0]


def test_a_malformed_trace_line_names_file_line_and_field(tmp_path):
    path = write_swf(tmp_path / "bad.swf.gz", [swf_line(1, 0, 60, 1).replace(" 60 ", " x ")])
    with pytest.raises(ValueError, match=r"bad\.swf\.gz:4: field run time: expected a number"):
        read_swf(path)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"clouds": []}, "expected a mapping with a list of clouds"),
        ({"flavors": [{"name": "x", "cores": "two", "ram_mb": 1}]},
         "cloud nimbus: flavors\\[0\\]: cores: expected a whole number"),
        ({"quota": {"gpus": 1}}, "cloud nimbus: quota: unknown limit 'gpus'"),
        ({"boot_time": {"dist": "gamma"}}, "cloud nimbus: boot_time: dist: expected fixed"),
        ({"boot_time": {"dist": "lognormal", "median_s": 300, "p95_s": 90}},
         "median_s ≤ p95_s"),
        ({"max_starting": None}, "cloud nimbus: max_starting: expected a whole number"),
    ],
)  # fmt: skip
def test_a_wrong_clouds_file_names_the_cloud_and_the_field(change, message):
    spec = json.loads(json.dumps(ONE_CLOUD))
    if "clouds" in change:
        spec.update(change)
    else:
        spec["clouds"][0].update(change)
    with pytest.raises(ConfigError, match=message):
        parse_config(spec, "clouds.yaml")


def test_unset_settings_are_the_agents_defaults():
    cloud = parse_config(ONE_CLOUD).clouds[0]
    defaults = {f: Cloud._meta.get_field(f).get_default() for f in simulate.SETTINGS}
    assert {f: getattr(cloud, f) for f in simulate.SETTINGS} == {**defaults, "idle_keep": 100}


def test_the_example_clouds_file_describes_five_clouds():
    config = simulate.load_config(EXAMPLE)
    assert [c.name for c in config.clouds] == [
        "arbutus", "cedar", "beluga", "aws-ca-central", "gcp-montreal"
    ]  # fmt: skip


# -- the command, the plot, stored runs ---------------------------------------------------


@pytest.fixture
def tiny_files(tmp_path):
    trace = write_swf(tmp_path / "tiny.swf.gz", [
        swf_line(1, 0, 100, 1), swf_line(2, 5, 50, 1), swf_line(3, 200, 10, 4, group=2),
        swf_line(4, 300, 20, 1),
    ])  # fmt: skip
    clouds = tmp_path / "clouds.yaml"
    clouds.write_text(json.dumps(ONE_CLOUD))  # JSON is YAML
    return trace, clouds


def test_the_command_prints_one_json_object_and_writes_an_svg_plot(tiny_files, capsys, tmp_path):
    trace, clouds = tiny_files
    plot = tmp_path / "run.svg"
    call_command("burst", "simulate", "--trace", str(trace), "--clouds", str(clouds),
                 "--plot", str(plot), "--json")  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    assert (out["jobs_run"], out["jobs_fit_nowhere"], out["vms_booted"]) == (3, 1, 3)
    assert (out["wait_mean_s"], out["wait_p95_s"]) == (91.7, 95.0)
    assert out["vm_hours_by_project"] == {"g1": 0.21}
    svg = ET.parse(plot).getroot()
    assert len(svg.findall("{http://www.w3.org/2000/svg}polyline")) == 3


def test_the_command_refuses_a_missing_trace_and_a_png_without_matplotlib(tiny_files, capsys):
    trace, clouds = tiny_files
    with pytest.raises(SystemExit) as e:
        call_command("burst", "simulate", "--trace", "nowhere.swf.gz", "--clouds", str(clouds))
    assert e.value.code == 1
    assert "error: --trace: nowhere.swf.gz: no such file" in capsys.readouterr().err
    try:
        import matplotlib  # noqa: F401
    except ImportError:  # not a dependency: PNG is refused, naming the way out
        with pytest.raises(SystemExit):
            call_command("burst", "simulate", "--trace", str(trace), "--clouds", str(clouds),
                         "--plot", "x.png")  # fmt: skip
        assert "PNG needs matplotlib, which is not installed; write an .svg" in (
            capsys.readouterr().err
        )


@pytest.mark.django_db
def test_a_stored_run_is_listed_with_its_figures_and_kept_with_its_series(tiny_files, capsys):
    trace, clouds = tiny_files
    call_command("burst", "simulate", "--trace", str(trace), "--clouds", str(clouds),
                 "--store", "--json", "--from", "2010-05-01")  # fmt: skip
    out = json.loads(capsys.readouterr().out)
    runs = simulate.simulation_runs()
    assert [(r["id"], r["trace"], r["summary"]["jobs_run"]) for r in runs] == [
        (out["run_id"], str(trace), 3)
    ]
    run = simulate.simulation_run(out["run_id"])
    assert run["config"] == {"from": "2010-05-01", "to": None, "speedup": 1.0}
    assert set(run["series"]) == {"t", "idle_jobs", "running_jobs", "vms", "wait_s"}
    # sampled every cycle (10 s) on so short a trace: before the first job, then 2 waiting
    assert run["series"]["t"][:3] == [0, 10, 20]
    assert run["series"]["idle_jobs"][:3] == [0, 2, 2]
    assert simulate.simulation_run(out["run_id"] + 1) is None
    assert Decimal(str(run["summary"]["cost"]["total"])) == Decimal("0.07")
