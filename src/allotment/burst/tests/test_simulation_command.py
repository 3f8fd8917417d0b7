"""`allot burst simulate`: its JSON, its plot, its errors, and runs it stores."""

import json
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest
from django.core.management import call_command

from allotment.burst.simulation import simulation_run, simulation_runs
from allotment.burst.tests.simulation_helpers import ONE_CLOUD, swf_line, write_swf


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
    runs = simulation_runs()
    assert [(r["id"], r["trace"], r["summary"]["jobs_run"]) for r in runs] == [
        (out["run_id"], str(trace), 3)
    ]
    run = simulation_run(out["run_id"])
    assert run["config"] == {"from": "2010-05-01", "to": None, "speedup": 1.0}
    assert set(run["series"]) == {"t", "idle_jobs", "running_jobs", "vms", "wait_s"}
    # sampled every cycle (10 s) on so short a trace: before the first job, then 2 waiting
    assert run["series"]["t"][:3] == [0, 10, 20]
    assert run["series"]["idle_jobs"][:3] == [0, 2, 2]
    assert simulation_run(out["run_id"] + 1) is None
    assert Decimal(str(run["summary"]["cost"]["total"])) == Decimal("0.07")
