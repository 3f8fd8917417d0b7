"""The SWF reader: jobs as the agent groups them, cut by the trace's local time, and a
malformed line named by file, line and field."""

import gzip

import pytest

from allotment.burst.simulation import read_swf
from allotment.burst.tests.simulation_helpers import swf_line, write_swf
from allotment.usage.parsing.common import ParseError


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
    ("header", "message"),
    [
        ("; UnixStartTime: soon", r"t.swf.gz:1: field UnixStartTime: expected epoch seconds"),
        ("; TimeZoneString: Mars/Olympus", r"t.swf.gz:1: field TimeZoneString: expected a time"),
    ],
)
def test_a_bad_trace_header_names_file_line_and_field(tmp_path, header, message):
    path = tmp_path / "t.swf.gz"
    with gzip.open(path, "wt") as f:
        f.write(header + "\n" + swf_line(1, 0, 10, 1) + "\n")
    with pytest.raises(ParseError, match=message):
        read_swf(path)


def test_a_file_that_is_no_trace_is_refused_naming_it(tmp_path):
    path = tmp_path / "t.swf.gz"
    path.write_bytes(b"not gzip at all")
    with pytest.raises(ValueError, match=r"t.swf.gz: cannot be read as an SWF trace"):
        read_swf(path)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("2010-06-01", "2010-05-01", "--from 2010-06-01 is not before --to 2010-05-01"),
        ("2010-05-01", "2010-05-01", "is not before"),
        ("last tuesday", None, "--from: expected an ISO time"),
        (None, "2010-13-45", "--to: expected an ISO time"),
    ],
)
def test_a_window_that_holds_nothing_or_is_no_time_is_refused(tmp_path, start, end, message):
    path = write_swf(tmp_path / "t.swf.gz", [swf_line(1, 0, 10, 1)])
    with pytest.raises(ValueError, match=message):
        read_swf(path, start, end)
