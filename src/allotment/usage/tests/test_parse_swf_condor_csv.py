"""SWF traces, HTCondor history, the generic CSV/JSON job format and storage CSV, parsed on
their own."""

import io
import json

import pytest

from allotment.usage.parsing import condor, generic, storage, swf
from allotment.usage.parsing.common import NeverRan, ParseError, Running

MARCH_1_2100 = 4107542400  # 2100-03-01T00:00:00Z
HOUR = 3600


# --- SWF ---------------------------------------------------------------------------------

SWF_HEADER = "; Version: 2.2\n; UnixStartTime: 1000000\n;\n"


def read_swf(body: str) -> list:
    return list(swf.parse(io.StringIO(SWF_HEADER + body), "trace.swf", "kth"))


def test_swf_applies_unix_start_time_and_maps_ids():
    (record,) = read_swf("1 100 20 3600 4 50 2048 4 7200 -1 1 7 9 -1 2 -1 -1 -1\n")
    assert (record.job_id, record.user, record.account, record.partition) == (
        "1", "kth-u7", "kth-g9", "q2",
    )  # fmt: skip
    assert (record.submit, record.start, record.end) == (1000100, 1000120, 1003720)
    assert (record.elapsed, record.cores, record.state, record.line) == (3600, 4, "COMPLETED", 4)
    assert record.cpu_time == 200  # 50 s average per processor x 4
    assert record.memory == 2048 * 1024 * 4


def test_swf_without_group_has_no_account_and_unknowns_give_no_usage():
    (record,) = read_swf("2 100 -1 -1 -1 -1 -1 4 7200 -1 5 7 -1 -1 -1 -1 -1 -1\n")
    assert (record.user, record.account, record.partition) == ("kth-u7", "", "")
    assert (record.start, record.end, record.elapsed, record.cores) == (1000100, 1000100, 0, 0)
    assert record.state == "CANCELLED"


def test_swf_job_without_submit_time_is_invalid():
    (record,) = read_swf("3 -1 0 60 1 -1 -1 1 60 -1 1 7 9 -1 -1 -1 -1 -1\n")
    assert isinstance(record, swf.Invalid)
    assert (record.job_id, record.line) == ("3", 4)


def test_swf_wrong_field_count_is_a_parse_error_with_its_line():
    body = "1 100 20 3600 4 -1 -1 4 7200 -1 1 7 9 -1 2 -1 -1 -1\n4 100 20 3600 4 -1\n"
    with pytest.raises(ParseError) as e:
        read_swf(body)
    assert e.value.line == 5 and "trace.swf:5" in str(e.value)
    assert "18 whitespace-separated numbers" in str(e.value)


def test_swf_non_number_names_the_swf_field():
    with pytest.raises(ParseError) as e:
        read_swf("1 100 20 3600 four -1 -1 4 7200 -1 1 7 9 -1 2 -1 -1 -1\n")
    assert e.value.field == "allocated processors" and "trace.swf:4" in str(e.value)


# --- HTCondor ----------------------------------------------------------------------------


def read_condor(ads) -> list:
    return list(condor.parse(io.StringIO(json.dumps(ads)), "history.json"))


def test_condor_history_json():
    start = MARCH_1_2100
    ads = [
        {"ClusterId": 12, "ProcId": 3, "GlobalJobId": "schedd1.example.org#12.3#4107540000",
         "Owner": "alice", "AcctGroup": "ProjectA", "JobStatus": 4, "QDate": start - 100,
         "JobStartDate": start, "CompletionDate": start + 4000,
         "RemoteWallClockTime": 3600.0, "RequestCpus": 2, "ExitCode": 0},
        {"ClusterId": 13, "Owner": "bob", "AccountingGroup": "group_bio.bob", "JobStatus": 3,
         "JobStartDate": start, "CompletionDate": start + 60, "CpusProvisioned": 8,
         "RequestCpus": 1},
        {"ClusterId": 14, "ProcId": 0, "Owner": "bob", "JobStatus": 2, "JobStartDate": start},
        {"ClusterId": 15, "Owner": "bob", "AcctGroup": "ProjectA", "JobStatus": 3,
         "QDate": start, "EnteredCurrentStatus": start + 30},
    ]  # fmt: skip
    first, second, running, removed_while_idle = read_condor(ads)
    assert (first.job_id, first.user, first.account) == (
        "schedd1.example.org#12.3", "alice", "ProjectA",
    )  # fmt: skip
    assert (first.start, first.end, first.elapsed, first.cores) == (
        start, start + 4000, 3600, 2,
    )  # fmt: skip
    assert (first.submit, first.state, first.exit_code) == (start - 100, "COMPLETED", "0")
    assert (second.job_id, second.account, second.cores) == ("13.0", "group_bio", 8)
    assert (second.elapsed, second.state) == (60, "CANCELLED")
    assert running == Running("14.0", 3)
    assert removed_while_idle == NeverRan("15.0", 4)  # no job, no usage


def test_condor_ad_without_cluster_id_is_a_parse_error():
    with pytest.raises(ParseError) as e:
        read_condor([{"ClusterId": 1, "JobStatus": 2}, {"Owner": "x", "JobStatus": 4}])
    assert "history.json:2" in str(e.value) and "ClusterId" in str(e.value)


# --- generic CSV and JSON ----------------------------------------------------------------


def read_generic(text: str, zone: str = "UTC", json_input: bool = False) -> list:
    return list(generic.parse(io.StringIO(text), "jobs.csv", zone, json_input=json_input))


def test_generic_csv_reads_epoch_iso_and_local_times():
    text = (
        "job_id,user,account,start,end,cores,submit,state\n"
        f"1,alice,ProjectA,{MARCH_1_2100},{MARCH_1_2100 + 7200},4,,completed\n"
        "2,bob,,2100-03-01T01:00:00+01:00,2100-03-01T02:00:00Z,2,,\n"
        "3,bob,ProjectA,2010-07-01T12:00:00,2010-07-01T13:00:00,1,2010-07-01T11:00:00,\n"
        "4,bob,ProjectA,2010-07-01T12:00:00,,1,,\n"
    )
    one, two, three, four = read_generic(text, "Europe/Stockholm")
    assert (one.job_id, one.user, one.account, one.cores) == ("1", "alice", "ProjectA", 4)
    assert (one.start, one.end, one.elapsed, one.state, one.line) == (
        MARCH_1_2100, MARCH_1_2100 + 7200, 7200, "COMPLETED", 2,
    )  # fmt: skip
    assert (two.account, two.start, two.end, two.elapsed) == (
        "", MARCH_1_2100, MARCH_1_2100 + 2 * HOUR, 7200,
    )  # fmt: skip
    assert (three.start, three.submit) == (1277978400, 1277978400 - HOUR)
    assert four == Running("4", 5)


def test_generic_csv_bad_number_names_the_field():
    text = f"job_id,user,start,end,cores\n1,alice,{MARCH_1_2100},{MARCH_1_2100 + 1},x4\n"
    with pytest.raises(ParseError) as e:
        read_generic(text)
    assert (e.value.line, e.value.field) == (2, "cores")
    assert "jobs.csv:2" in str(e.value) and "a whole number" in str(e.value)


def test_generic_csv_missing_column_is_refused_on_line_1():
    with pytest.raises(ParseError) as e:
        read_generic("job_id,user,start,end\n")
    assert e.value.line == 1 and "cores" in str(e.value)


@pytest.mark.parametrize("row", [f"1,alice,{MARCH_1_2100}", f"1,alice,1,{MARCH_1_2100},1,extra"])
def test_generic_csv_row_with_the_wrong_number_of_fields_is_a_parse_error(row):
    text = f"job_id,user,start,end,cores\n{row}\n"
    with pytest.raises(ParseError) as e:
        read_generic(text)
    assert "jobs.csv:2" in str(e.value)


def test_generic_json_list_of_objects():
    rows = [
        {"job_id": 9, "user": "alice", "account": "ProjectA", "start": MARCH_1_2100,
         "end": MARCH_1_2100 + 600, "cores": 3, "elapsed": 500, "nodes": 1},
        {"job_id": "10", "user": "bob", "start": "2100-03-01T00:00:00Z", "end": None, "cores": 1},
    ]  # fmt: skip
    record, running = read_generic(json.dumps(rows), json_input=True)
    assert (record.job_id, record.cores, record.elapsed, record.nodes) == ("9", 3, 500, 1)
    assert (record.start, record.end) == (MARCH_1_2100, MARCH_1_2100 + 600)
    assert running == Running("10", 2)
    with pytest.raises(ParseError) as e:
        read_generic(
            json.dumps([{"job_id": 1, "user": "a", "start": 1, "end": 2}]), json_input=True
        )
    assert e.value.field == "cores" and "jobs.csv:1" in str(e.value)


# --- storage CSV -------------------------------------------------------------------------


def read_storage(text: str) -> list:
    return list(storage.parse(io.StringIO(text), "disk.csv", "UTC"))


def test_storage_csv_snapshots():
    text = (
        "timestamp,filesystem,project,person,bytes\n"
        f"{MARCH_1_2100},brecca-project,ProjectA,,307200\n"
        "2100-03-02T00:00:00Z, brecca-project ,ProjectA,alice,512000\n"
    )
    first, second = read_storage(text)
    assert first[:6] == (MARCH_1_2100, "brecca-project", "ProjectA", "", 307200, 2)
    assert second[:6] == (MARCH_1_2100 + 86400, "brecca-project", "ProjectA", "alice", 512000, 3)


@pytest.mark.parametrize("size", ["12KB", "-1", "1.5", ""])
def test_storage_csv_bad_bytes_names_the_field(size):
    text = f"timestamp,filesystem,project,person,bytes\n{MARCH_1_2100},fs,ProjectA,,{size}\n"
    with pytest.raises(ParseError) as e:
        read_storage(text)
    assert (e.value.line, e.value.field) == (2, "bytes")
    assert "disk.csv:2" in str(e.value) and "field bytes" in str(e.value)


def test_storage_csv_short_row_is_a_parse_error():
    text = f"timestamp,filesystem,project,person,bytes\n{MARCH_1_2100},fs,ProjectA\n"
    with pytest.raises(ParseError) as e:
        read_storage(text)
    assert "disk.csv:2" in str(e.value)
