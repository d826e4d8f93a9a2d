"""Reading wrk's report, and telling a whole served page from a torn one."""

from __future__ import annotations

import json

import pytest

from bench.serving import WrkRun, parse_wrk, whole_page

WRK = """Running 4s test @ http://127.0.0.1:41234/c/abc/
  1 threads and 8 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     2.51ms    1.02ms  {max}   91.20%
    Req/Sec     3.02k   210.11     3.40k    70.00%
  Latency Distribution
     50%    2.43ms
     75%    2.80ms
     90%    3.30ms
     99%    {p99}
  12004 requests in 4.00s, 226.12MB read
{extra}Requests/sec:   2999.10
Transfer/sec:     56.49MB
"""


@pytest.mark.parametrize(("p99", "extra", "expected"), [
    ("8.27ms", "", WrkRun(2999.10, 2.43, 8.27, 12004, 0)),
    ("812.00us", "", WrkRun(2999.10, 2.43, 0.812, 12004, 0)),
    ("1.20s", "", WrkRun(2999.10, 2.43, 1200.0, 12004, 0)),
    ("8.27ms", "  Non-2xx or 3xx responses: 7\n", WrkRun(2999.10, 2.43, 8.27, 12004, 7)),
    ("8.27ms", "  Socket errors: connect 0, read 2, write 0, timeout 3\n", WrkRun(2999.10, 2.43, 8.27, 12004, 5)),
])
def test_wrk_figures_are_read_in_milliseconds_with_every_error_counted(p99: str, extra: str, expected: WrkRun) -> None:
    assert parse_wrk(WRK.format(max="20.00ms", p99=p99, extra=extra)) == expected


def test_output_without_a_latency_distribution_is_refused() -> None:
    text = WRK.format(max="20ms", p99="8ms", extra="").replace("     99%    8ms\n", "")
    with pytest.raises(ValueError, match="99%"):
        parse_wrk(text)


PAGE = "<!doctype html>\n<html lang=\"en\"><head><title>Balance</title></head><body><p>12.50 h</p></body></html>\n"
BALANCE = json.dumps({"schema": "syncd.balance/1", "generated_at": "2026-12-05T09:00:00Z", "pools": []})


@pytest.mark.parametrize(("name", "body", "whole"), [
    ("index.html", PAGE.encode(), True),
    ("index.html", PAGE.encode()[: len(PAGE) // 2], False),  # cut mid-write
    ("index.html", b"", False),
    ("index.html", b"\xff\xfe" + PAGE.encode(), False),  # not UTF-8
    ("balance.json", BALANCE.encode(), True),
    ("balance.json", BALANCE.encode()[:-5], False),
    ("balance.json", json.dumps({"schema": "syncd.balance/1"}).encode(), False),  # no stamp
])
def test_a_page_counts_as_whole_only_when_it_parses_to_its_end(name: str, body: bytes, whole: bool) -> None:
    assert (whole_page(name, body) is None) is whole
