"""The benchmark's reading of wrk's summary."""

from __future__ import annotations

from bench.wrk import parse_wrk


def test_wrk_summary_is_parsed() -> None:
    out = """Running 5s test @ http://127.0.0.1:1/simple/x/
  Latency Distribution
     50%    4.75ms
     75%    6.00ms
     90%    8.00ms
     99%   12.28ms
  45000 requests in 5.00s, 1.00GB read
  Socket errors: connect 0, read 2, write 0, timeout 1
Requests/sec:   9146.20
"""
    load = parse_wrk(out)
    assert (load.rps, load.p50_ms, load.p99_ms, load.errors) == (9146.2, 4.75, 12.28, 3)

