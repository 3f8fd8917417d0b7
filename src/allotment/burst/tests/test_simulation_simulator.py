"""The simulator's virtual-time loop: a tiny trace worked out by hand, and its limits over a
real trace and random ones."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allotment.burst.simulation import Simulator, load_config, parse_config, read_swf
from allotment.burst.tests.simulation_helpers import EXAMPLE, ONE_CLOUD, RICC

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


def single_use(flavors=None) -> Simulator:
    cloud = {**ONE_CLOUD["clouds"][0], "single_use": True}
    if flavors:
        cloud["flavors"] = flavors
    return Simulator(parse_config({**ONE_CLOUD, "clouds": [cloud]}))


def test_a_single_use_vm_is_deleted_when_its_job_ends_and_never_takes_another():
    runs = []
    for sim in (Simulator(parse_config(ONE_CLOUD)), single_use()):
        sim.add_job(0, 100, 1, account="a")
        sim.add_job(200, 10, 1, account="a")  # arrives while vm1 would be idle (190 → 290)
        runs.append(sim.run().summary)
    reusable, single = runs
    # Reusable: vm1 takes the second job at once (wait 0) and is retired at 310.
    assert (reusable["vms_booted"], reusable["wait_mean_s"]) == (1, 45.0)
    # Single use: vm1 goes at 190 as its job ends; the second job waits for vm2 (200 → 290),
    # which goes at 300. VM seconds 190 + 100.
    assert (single["vms_booted"], single["wait_mean_s"]) == (2, 90.0)
    assert single["vm_hours_by_cloud"] == {"nimbus": round(290 / 3600, 2)}


def test_a_single_use_vm_takes_the_jobs_placed_on_it_together_and_goes_after_the_last():
    sim = single_use([{"name": "quad", "cores": 4, "ram_mb": 4000}])
    sim.add_job(0, 100, 1, account="a")
    sim.add_job(0, 300, 1, account="a")  # both start at 90 on the one quad VM booted
    sim.add_job(100, 10, 1, account="a")  # vm1 has room, but took its jobs: a new VM
    result = sim.run().summary
    assert result["vms_booted"] == 2
    # vm1: 0 → 390 (its second job's end); vm2: 100 → 200.
    assert result["vm_hours_by_cloud"] == {"nimbus": round(490 / 3600, 2)}


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


# -- limits over whole runs ---------------------------------------------------------------


def assert_within_limits(summary: dict) -> None:
    for cloud, peak in summary["peaks"].items():
        for key, value in peak.items():
            limit = summary["limits"][cloud][key]
            assert limit is None or value <= limit, f"{cloud} {key}: {value} over {limit}"


@pytest.mark.skipif(not RICC.exists(), reason="the RICC trace is not on this machine")
def test_ricc_first_week_on_the_example_clouds_runs_every_job_that_fits_within_limits():
    config = load_config(EXAMPLE)
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
