"""deploy/prometheus/allotment-alerts.yml: it parses, names only metrics our /metrics
exposes (scraped from the site of test_burst_metrics), and, where promtool is installed
(Debian's prometheus package), passes `promtool check rules` and fires each alert exactly
when it should on made-up series (`promtool test rules`)."""

# The fixtures are imported, and each test naming one looks to ruff like a redefinition.
# ruff: noqa: F811

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from allotment.burst.tests.conftest import (  # noqa: F401
    burst_site,
    fresh_server_listings,
    vm_hours,
)

from .conftest import scrape
from .test_burst_metrics import at_now, burst_state, vm_hours_used  # noqa: F401

RULES = Path(__file__).resolve().parents[4] / "deploy" / "prometheus" / "allotment-alerts.yml"
ALERTS = {
    "BurstCloudDown",
    "BurstVMsStuckStarting",
    "BurstAllocationNearlySpent",
    "BurstNoDecision",
    "AllotmentAgentDown",
    "BurstBootsFailing",
    "BurstBootFailureRate",
}
PROMTOOL = shutil.which("promtool")
needs_promtool = pytest.mark.skipif(
    PROMTOOL is None, reason="promtool is not installed (apt-get install prometheus)"
)


def rules() -> list[dict]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\ballotment_[a-z0-9_]+\b", expr))


def test_each_alert_has_an_expression_a_severity_a_summary_and_a_description():
    found = rules()
    assert {rule["alert"] for rule in found} == ALERTS
    for rule in found:
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description"}, rule["alert"]
        assert len(rule["annotations"]["description"]) > 100, rule["alert"]
        assert metric_names(rule["expr"]), rule["alert"]


def test_every_metric_the_rules_name_is_one_metrics_exposes(client, vm_hours_used):
    exposed = {name for name, _ in scrape(client)}
    named = set().union(*(metric_names(rule["expr"]) for rule in rules()))
    assert named - exposed == set()
    assert "allotment_burst_vm_boots_total" in named  # a counter, by its sample name


@needs_promtool
def test_promtool_finds_the_rules_valid():
    done = subprocess.run(
        [PROMTOOL, "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in done.stdout


def series(name: str, values: str, **labels) -> dict:
    """An input series of scrape job "allotment" on instance "web:8000"."""
    labels = {"instance": "web:8000", "job": "allotment"} | labels
    inner = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return {"series": f"{name}{{{inner}}}", "values": values}


def fired(alert: str, at: str, *expected: dict) -> dict:
    """A promtool case: at `at`, `alert` fires with exactly the `expected` labels (besides
    the scrape's, and its severity, added by `with_severity`)."""
    common = {"instance": "web:8000", "job": "allotment"}
    return {
        "eval_time": at,
        "alertname": alert,
        "exp_alerts": [{"exp_labels": common | labels} for labels in expected],
    }


def with_severity(case: dict, severities: dict[str, str]) -> dict:
    severity = {"severity": severities[case["alertname"]]}
    alerts = [{"exp_labels": a["exp_labels"] | severity} for a in case["exp_alerts"]]
    return case | {"exp_alerts": alerts}


# One scrape a minute for 40 minutes ("a+bxN": a, then N more steps of b each).
INPUT = [
    # stratus unhealthy (enabled), cumulus unhealthy but disabled, nimbus healthy
    series("allotment_burst_cloud_health", "1x40", cloud="stratus", health="unhealthy"),
    series("allotment_burst_cloud_enabled", "1x40", cloud="stratus"),
    series("allotment_burst_cloud_health", "1x40", cloud="cumulus", health="unhealthy"),
    series("allotment_burst_cloud_enabled", "0x40", cloud="cumulus"),
    series("allotment_burst_cloud_health", "0x40", cloud="nimbus", health="unhealthy"),
    series("allotment_burst_cloud_enabled", "1x40", cloud="nimbus"),
    # one VM stuck on nimbus from minute 0; none on stratus
    series("allotment_burst_vms_stuck_starting", "1x40", cloud="nimbus"),
    series("allotment_burst_vms_stuck_starting", "0x40", cloud="stratus"),
    # ProjectA used 9.5 of 10 VM hours, ProjectB 5 of 10
    series("allotment_burst_vm_allocation", "10x40", project="ProjectA"),
    series("allotment_burst_vm_allocation_used", "9.5x40", project="ProjectA"),
    series("allotment_burst_vm_allocation", "10x40", project="ProjectB"),
    series("allotment_burst_vm_allocation_used", "5x40", project="ProjectB"),
    # brecca's last decision ages from minute 0 (over 300 s from minute 6); kilo decides
    series("allotment_burst_last_decision_age_seconds", "0+60x40", batch="brecca"),
    series("allotment_burst_last_decision_age_seconds", "10x40", batch="kilo"),
    # no agent process from minute 0
    series("allotment_agent_live_agents", "0x40"),
    # nimbus: a flavor and image failed 3 times in a row; stratus once
    series("allotment_burst_boot_failures_in_a_row", "3x40", cloud="nimbus"),
    series("allotment_burst_boot_failures_in_a_row", "1x40", cloud="stratus"),
    # nimbus: every boot fails (one a minute); stratus: 1 in 10 fails
    series("allotment_burst_vm_boot_failures_total", "0+1x40", cloud="nimbus"),
    series("allotment_burst_vm_boots_total", "0+1x40", cloud="nimbus"),
    series("allotment_burst_vm_boot_failures_total", "0+1x40", cloud="stratus"),
    series("allotment_burst_vm_boots_total", "0+10x40", cloud="stratus"),
]

CASES = [
    fired("BurstCloudDown", "4m"),  # unhealthy, but not for 5 minutes yet
    fired("BurstCloudDown", "10m", {"cloud": "stratus", "health": "unhealthy"}),
    fired("BurstVMsStuckStarting", "4m"),
    fired("BurstVMsStuckStarting", "10m", {"cloud": "nimbus"}),
    fired("BurstAllocationNearlySpent", "10m", {"project": "ProjectA"}),
    fired("BurstNoDecision", "6m"),  # 360 s old, but only just
    fired("BurstNoDecision", "8m", {"batch": "brecca"}),
    fired("AllotmentAgentDown", "4m"),
    fired("AllotmentAgentDown", "10m", {}),
    fired("BurstBootsFailing", "1m", {"cloud": "nimbus"}),
    fired("BurstBootFailureRate", "2m"),  # 2 failures: not yet 3
    fired("BurstBootFailureRate", "35m", {"cloud": "nimbus"}),
]


@needs_promtool
def test_promtool_fires_each_alert_when_it_should_and_only_then(tmp_path):
    # Annotations are left out: promtool compares them verbatim, and their templates are
    # checked by `promtool check rules` above.
    bare = {"groups": [
        {**group, "rules": [{k: v for k, v in rule.items() if k != "annotations"}
                            for rule in group["rules"]]}
        for group in yaml.safe_load(RULES.read_text())["groups"]
    ]}  # fmt: skip
    (tmp_path / "rules.yml").write_text(yaml.safe_dump(bare))
    severities = {rule["alert"]: rule["labels"]["severity"] for rule in rules()}
    cases = [with_severity(case, severities) for case in CASES]
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": INPUT, "alert_rule_test": cases}],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    assert {case["alertname"] for case in CASES} == ALERTS
    done = subprocess.run(
        [PROMTOOL, "test", "rules", "tests.yml"],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
