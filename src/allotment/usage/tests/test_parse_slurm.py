"""Slurm's sacct --parsable2 text and sacct --json, parsed on their own.

Epochs were checked with calendar.timegm: 2010-07-01T10:00:00Z = 1277978400,
2010-01-15T11:00:00Z = 1263553200, 2010-01-15T12:00:00Z = 1263556800.
"""

import io
import json

import pytest

from allotment.usage.parsing import sacct, sacct_json
from allotment.usage.parsing.common import (
    JobRecord,
    ParseError,
    Running,
    parse_elapsed,
    parse_size,
)

MARCH_1_2100 = 4107542400  # 2100-03-01T00:00:00Z
HOUR = 3600


def read_sacct(text: str, zone: str = "UTC") -> list:
    return list(sacct.parse(io.StringIO(text), "jobs.txt", zone))


def without_fingerprint(records: list) -> list:
    return [r._replace(fingerprint=0) for r in records]


# --- sacct --parsable2 -------------------------------------------------------------------

HEADER_A = "JobID|User|Account|Partition|Start|End|Elapsed|AllocCPUS|NNodes|State|ExitCode"
HEADER_B = "State|AllocCPUS|End|Start|ExitCode|Account|NNodes|JobID|Elapsed|Partition|User"
JOBS_A = [
    "101|alice|ProjectA|work|2010-01-15T12:00:00|2010-01-15T14:00:00|02:00:00|4|1|COMPLETED|0:0",
    "102|bob|ProjectB|long|2010-01-15T12:00:00|2010-01-16T12:00:30|1-00:00:30|8|2|FAILED|1:0",
]


def reorder(line: str) -> str:
    values = dict(zip(HEADER_A.split("|"), line.split("|"), strict=True))
    return "|".join(values[name] for name in HEADER_B.split("|"))


def test_sacct_columns_in_any_order_give_equal_records():
    a = read_sacct("\n".join([HEADER_A, *JOBS_A]) + "\n")
    b = read_sacct("\n".join([HEADER_B.lower(), *map(reorder, JOBS_A)]) + "\n")
    assert len(a) == 2
    assert without_fingerprint(a) == without_fingerprint(b)
    first = a[0]
    assert (first.job_id, first.user, first.account, first.partition) == (
        "101", "alice", "ProjectA", "work",
    )  # fmt: skip
    assert (first.start, first.end) == (1263556800, 1263564000)  # 12:00Z and 14:00Z
    assert (first.elapsed, first.cores, first.nodes) == (7200, 4, 1)
    assert (first.state, first.exit_code, first.line) == ("COMPLETED", "0:0", 2)
    assert (a[1].elapsed, a[1].cores, a[1].nodes, a[1].state) == (86430, 8, 2, "FAILED")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1-02:03:04", 93784),
        ("10-00:00:00", 864000),
        ("02:03:04", 7384),
        ("00:00:00", 0),
        ("05:30.250", 330),
        ("00:07.999", 7),
    ],
)
def test_parse_elapsed_reads_every_slurm_form(text, seconds):
    assert parse_elapsed(text) == seconds


@pytest.mark.parametrize("text", ["", "abc", "1-", "12", "1:2:3:4", "1-02:03:04\n"])
def test_parse_elapsed_refuses_what_is_not_a_duration(text):
    with pytest.raises(ValueError):
        parse_elapsed(text)


def test_sacct_elapsed_column_is_charged_not_end_minus_start():
    text = "JobID|User|Account|Start|End|Elapsed|AllocCPUS\n"
    text += "7|alice|ProjectA|2010-01-15T12:00:00|2010-01-15T14:00:00|01:30:00|2\n"
    (record,) = read_sacct(text)
    assert record.elapsed == 5400


def test_sacct_state_qualifiers_are_dropped():
    text = "JobID|User|Account|Start|End|AllocCPUS|State\n"
    text += "7|alice|ProjectA|2010-01-15T12:00:00|2010-01-15T14:00:00|2|CANCELLED by 0\n"
    (record,) = read_sacct(text)
    assert record.state == "CANCELLED"


@pytest.mark.parametrize("end", ["Unknown", "None"])
def test_sacct_job_without_an_end_is_running(end):
    text = "JobID|User|Account|Start|End|AllocCPUS\n"
    text += "1|alice|ProjectA|2010-01-15T12:00:00|2010-01-15T13:00:00|1\n"
    text += f"2|alice|ProjectA|2010-01-15T12:00:00|{end}|1\n"
    first, second = read_sacct(text)
    assert isinstance(first, JobRecord)
    assert second == Running("2", 3)


def test_sacct_steps_are_skipped_and_array_tasks_and_het_components_kept():
    text = "JobID|User|Account|Start|End|AllocCPUS\n"
    times = "2010-01-15T12:00:00|2010-01-15T13:00:00"
    for job_id in ["123", "123.batch", "123.extern", "123.0", "124_4", "124_4.batch",
                   "125+0", "125+1", "125+1.0", "126.interactive"]:  # fmt: skip
        text += f"{job_id}|alice|ProjectA|{times}|1\n"
    assert [r.job_id for r in read_sacct(text)] == ["123", "124_4", "125+0", "125+1"]


def test_sacct_local_times_use_the_machine_zone_summer_and_winter():
    text = "JobID|User|Account|Start|End|Submit|AllocCPUS\n"
    text += "1|alice|ProjectA|2010-07-01T12:00:00|2010-07-01T13:00:00|2010-07-01T11:59:00|1\n"
    text += "2|alice|ProjectA|2010-01-15T12:00:00|2010-01-15T13:00:00|2010-01-15T11:59:00|1\n"
    summer, winter = read_sacct(text, "Europe/Stockholm")
    assert summer.start == 1277978400  # 10:00 UTC: CEST is UTC+2
    assert summer.end == 1277978400 + HOUR
    assert summer.submit == 1277978400 - 60
    assert winter.start == 1263553200  # 11:00 UTC: CET is UTC+1
    utc_summer, _ = read_sacct(text, "UTC")
    assert utc_summer.start == 1277978400 + 2 * HOUR


def test_sacct_user_with_uid_in_brackets_is_the_username():
    text = "JobID|User|Account|Start|End|AllocCPUS\n"
    text += "1|alice(20001)|ProjectA|2010-01-15T12:00:00|2010-01-15T13:00:00|1\n"
    (record,) = read_sacct(text)
    assert record.user == "alice"


def test_sacct_malformed_field_names_file_line_field_and_expectation():
    text = "JobID|User|Account|Start|End|AllocCPUS\n"
    text += "1|alice|ProjectA|2010-01-15T12:00:00|2010-01-15T13:00:00|1\n"
    text += "2|alice|ProjectA|2010-01-15T12:00:00|2010-01-15T13:00:00|four\n"
    with pytest.raises(ParseError) as e:
        read_sacct(text)
    assert (e.value.source, e.value.line, e.value.field) == ("jobs.txt", 3, "AllocCPUS")
    message = str(e.value)
    assert "jobs.txt:3" in message
    assert "AllocCPUS" in message
    assert "a whole number of CPUs" in message
    assert '"four"' in message


def test_sacct_malformed_time_names_the_time_field():
    text = "JobID|User|Account|Start|End|AllocCPUS\n"
    text += "1|alice|ProjectA|2010-01-15T12:00:00|yesterday|1\n"
    with pytest.raises(ParseError) as e:
        read_sacct(text)
    assert (e.value.line, e.value.field) == (2, "End")
    assert "jobs.txt:2" in str(e.value) and "YYYY-MM-DDTHH:MM:SS" in str(e.value)


def test_sacct_wrong_number_of_fields_is_a_parse_error_on_its_line():
    text = "JobID|User|Account|Start|End|AllocCPUS\n"
    text += "1|alice|ProjectA|2010-01-15T12:00:00|2010-01-15T13:00:00|1\n\n"
    text += "2|alice|ProjectA|2010-01-15T12:00:00|1\n"
    with pytest.raises(ParseError) as e:
        read_sacct(text)
    assert e.value.line == 4 and "jobs.txt:4" in str(e.value)
    assert "6 '|'-separated fields" in str(e.value)


def test_sacct_missing_required_column_is_a_parse_error_on_line_1():
    text = "JobID|User|Start|End|AllocCPUS\n1|alice|2010-01-15T12:00:00|2010-01-15T13:00:00|1\n"
    with pytest.raises(ParseError) as e:
        read_sacct(text)
    assert (e.value.line, e.value.field) == (1, "header")
    assert "jobs.txt:1" in str(e.value) and "account" in str(e.value)


def test_sacct_without_a_cpu_column_is_refused_on_line_1():
    with pytest.raises(ParseError) as e:
        read_sacct("JobID|User|Account|Start|End\n")
    assert e.value.line == 1 and "AllocCPUS or NCPUS" in str(e.value)


# --- sacct --json ------------------------------------------------------------------------


def slurm_22_job(job_id, start, end, cpus, *, array=None, het=None, state="COMPLETED"):
    return {
        "job_id": job_id,
        "array": array or {"job_id": 0, "task_id": None},
        "het": het or {"job_id": 0, "job_offset": None},
        "user": "alice",
        "account": "ProjectA",
        "partition": "work",
        "cluster": "brecca",
        "time": {
            "submission": start - 60,
            "eligible": start - 30,
            "start": start,
            "end": end,
            "elapsed": end - start if end else 0,
        },
        "state": {"current": state, "reason": "None"},
        "exit_code": {"status": "SUCCESS", "return_code": 0},
        "tres": {"allocated": [{"type": "cpu", "count": cpus}, {"type": "node", "count": 1}]},
    }


def read_json(document) -> list:
    return list(sacct_json.parse(io.StringIO(json.dumps(document)), "jobs.json"))


def test_sacct_json_22_05_shape():
    start = MARCH_1_2100
    jobs = [
        slurm_22_job(50, start, start + 2 * HOUR, 4),
        slurm_22_job(103, start, start + HOUR, 2, array={"job_id": 100, "task_id": 3}),
        slurm_22_job(201, start, start + HOUR, 1, het={"job_id": 200, "job_offset": 1}),
        slurm_22_job(60, start, 0, 8, state="RUNNING"),
    ]
    plain, task, het, running = read_json({"jobs": jobs})
    assert (plain.job_id, plain.user, plain.account, plain.partition, plain.cluster) == (
        "50", "alice", "ProjectA", "work", "brecca",
    )  # fmt: skip
    assert (plain.submit, plain.eligible, plain.start, plain.end) == (
        start - 60, start - 30, start, start + 2 * HOUR,
    )  # fmt: skip
    assert (plain.elapsed, plain.cores, plain.nodes) == (7200, 4, 1)
    assert (plain.state, plain.exit_code) == ("COMPLETED", "0")
    assert task.job_id == "100_3" and task.cores == 2
    assert het.job_id == "200+1"
    assert running == Running("60", 4)


def test_sacct_json_set_number_shape():
    start = MARCH_1_2100

    def n(value):
        return {"set": True, "infinite": False, "number": value}

    job = slurm_22_job(0, 0, 0, 0)
    job.update(
        job_id=n(103),
        array={"job_id": n(100), "task_id": n(3)},
        het={"job_id": n(0), "job_offset": {"set": False, "infinite": False, "number": 0}},
        time={"submission": n(start - 60), "eligible": n(start), "start": n(start),
              "end": n(start + HOUR), "elapsed": n(3600)},
        state={"current": ["CANCELLED"], "reason": "None"},
        exit_code={"status": ["SUCCESS"], "return_code": n(0)},
        tres={"allocated": [{"type": "cpu", "count": n(16)}, {"type": "node", "count": n(2)}]},
    )  # fmt: skip
    plain = slurm_22_job(0, 0, 0, 0)
    plain.update(job_id=n(7), array={"job_id": n(0), "task_id": {"set": False, "number": 0}})
    plain["time"] = job["time"]
    plain["tres"] = job["tres"]
    (task, other) = read_json({"jobs": [job, plain]})
    assert task.job_id == "100_3"
    assert (task.start, task.end, task.elapsed) == (start, start + HOUR, 3600)
    assert (task.cores, task.nodes, task.state, task.exit_code) == (16, 2, "CANCELLED", "0")
    assert other.job_id == "7"


def test_sacct_json_that_is_not_json_is_a_parse_error():
    with pytest.raises(ParseError) as e:
        list(sacct_json.parse(io.StringIO('{"jobs": [\n{"job_id": }'), "jobs.json"))
    assert "jobs.json:2" in str(e.value)
    with pytest.raises(ParseError) as e:
        read_json({"nojobs": []})
    assert "jobs.json:1" in str(e.value)


FULL_HEADER = (
    "JobID|Cluster|User|Account|Partition|Submit|Eligible|Start|End|Elapsed|AllocCPUS|NNodes|"
    "TotalCPU|MaxRSS|ReqMem|State|ExitCode"
)


def test_sacct_in_the_documented_format_with_its_steps():
    text = "\n".join(
        [
            FULL_HEADER,
            "4242|brecca|alice|projecta|work|2010-01-15T09:00:00|2010-01-15T09:00:05|"
            "2010-01-15T10:00:00|2010-01-15T12:00:00|02:00:00|16|2|1-06:00:00||64G|COMPLETED|0:0",
            "4242.batch|brecca||projecta||2010-01-15T10:00:00|2010-01-15T10:00:00|"
            "2010-01-15T10:00:00|2010-01-15T12:00:00|02:00:00|8|1|15:00:00|1234K||COMPLETED|0:0",
            "4242.0|brecca||projecta||2010-01-15T10:00:01|2010-01-15T10:00:01|"
            "2010-01-15T10:00:01|2010-01-15T12:00:00|01:59:59|16|2|15:00:00|2G||COMPLETED|0:0",
        ]
    )
    (record,) = read_sacct(text + "\n")
    start = 1263549600  # 2010-01-15T10:00:00Z
    assert (record.job_id, record.cluster, record.user, record.account) == (
        "4242", "brecca", "alice", "projecta",
    )  # fmt: skip
    assert (record.submit, record.eligible, record.start, record.end) == (
        start - HOUR, start - HOUR + 5, start, start + 2 * HOUR,
    )  # fmt: skip
    assert (record.elapsed, record.cores, record.nodes, record.cpu_time) == (7200, 16, 2, 108000)
    assert (record.memory, record.state, record.exit_code) == (None, "COMPLETED", "0:0")


@pytest.mark.parametrize("text", ["12Q", "1.5G\n", "G"])
def test_parse_size_refuses_what_is_not_a_size(text):
    with pytest.raises(ValueError):
        parse_size(text)
