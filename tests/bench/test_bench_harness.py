"""The harness' pieces over real HTTP: subgraph server, response cache, load generators' checks."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from bench import loadgen
from bench.run import QUERIES, ratios, split_checks, summarise_folded

ROOT = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as r:
        body: bytes = r.read()
        return body


def _post(url: str, body: bytes) -> bytes:
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        out: bytes = r.read()
        return out


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.subgraphs", "--port", str(port)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if _get(url + "/health") == b"OK":
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("subgraph server did not start")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


SMALL = orjson.dumps({"query": QUERIES["small"].read_text()})


def test_server_routes_and_response_cache(base_url: str) -> None:
    before = orjson.loads(_get(base_url + "/stats"))
    first = _post(base_url + "/accounts", SMALL)
    second = _post(base_url + "/accounts", SMALL)
    after = orjson.loads(_get(base_url + "/stats"))
    assert first == second
    assert first == _post(base_url + "/monolith", SMALL)
    assert after["requests"]["accounts"] - before["requests"].get("accounts", 0) == 2
    assert after["cacheHits"] - before["cacheHits"] >= 1
    for route in ("inventory", "products", "reviews"):
        assert b"_service" in _post(base_url + f"/{route}", b'{"query": "{ _service { sdl } }"}')
    with pytest.raises(urllib.error.HTTPError):
        _post(base_url + "/nowhere", SMALL)


def test_python_loadgen_checks_every_response(base_url: str) -> None:
    oracle = orjson.loads(_post(base_url + "/monolith", SMALL))
    res = loadgen.run_load(
        base_url + "/accounts", SMALL, oracle=oracle, connections=4, duration=0.5
    )
    out = res.as_dict()
    assert out["requests"] > 0
    assert out["failures"] == 0
    assert out["checks"]["checked"] == out["requests"]
    assert out["checks"]["deep_checked"] == 4


def test_python_loadgen_reports_a_wrong_answer(base_url: str) -> None:
    wrong: dict[str, object] = {"data": {"users": []}}
    res = loadgen.run_load(base_url + "/accounts", SMALL, oracle=wrong, connections=2, duration=0.3)
    assert res.checks.deep_mismatch == 2
    assert res.checks.sample is not None
    errors = loadgen.run_load(
        base_url + "/accounts", b'{"query": "{ nope }"}', oracle=None, connections=1, duration=0.2
    )
    assert errors.checks.with_errors == errors.requests > 0


def test_verify_samples_one_response_per_connection(base_url: str) -> None:
    oracle = orjson.loads(_post(base_url + "/monolith", SMALL))
    good = loadgen.verify(base_url + "/accounts", SMALL, oracle, connections=5)
    assert (good["checked"], good["bad"], good["sample"], good["responses"]) == (5, 0, None, 5)
    assert loadgen.verify(base_url + "/accounts", SMALL, {"data": None}, connections=3)["bad"] == 3


def test_verify_waits_for_every_connection_of_a_burst(base_url: str) -> None:
    """Answers to the first connections must not end the sample before the last ones are opened."""
    oracle = orjson.loads(_post(base_url + "/monolith", SMALL))
    for _ in range(3):
        out = loadgen.verify(base_url + "/accounts", SMALL, oracle, connections=150)
        assert (out["checked"], out["bad"]) == (150, 0), out


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk not installed")
def test_wrk_script_checks_lengths(base_url: str, tmp_path: Path) -> None:
    body = tmp_path / "small.json"
    body.write_bytes(SMALL)
    good_len = len(_post(base_url + "/accounts", SMALL))
    outputs = {}
    for expected in (good_len, good_len + 1):
        proc = subprocess.run(
            [
                "wrk",
                "-t1",
                "-c2",
                "-d1s",
                "-s",
                str(ROOT / "bench" / "wrk.lua"),
                base_url + "/accounts",
            ],
            env={**os.environ, "BODY_FILE": str(body), "EXPECTED_LEN": str(expected)},
            capture_output=True,
            text=True,
            check=True,
        )
        line = next(ln for ln in proc.stdout.splitlines() if ln.startswith("BENCH_JSON "))
        outputs[expected] = orjson.loads(line.removeprefix("BENCH_JSON "))
    good, bad = outputs[good_len], outputs[good_len + 1]
    assert good["requests"] > 0
    assert good["checks"]["len_mismatch"] == 0
    assert bad["checks"]["len_mismatch"] == bad["checks"]["checked"] > 0


def test_profile_summary_ranks_own_and_inclusive_time() -> None:
    folded = "main (app.py:1);plan (planner.py:10) 30\nmain (app.py:1);merge (executor.py:5) 70\n"
    out = summarise_folded(folded)
    assert out["samples"] == 100
    assert out["own_pct"][0] == ("merge (executor.py)", 70.0)
    # frames on every stack (the server's run loop) are left out of the inclusive ranking
    assert out["inclusive_pct"] == [("merge (executor.py)", 70.0), ("plan (planner.py)", 30.0)]


def test_ratios_compare_ours_with_each_node_gateway() -> None:
    def row(system: str, rps: float, wrong: int = 0) -> dict[str, object]:
        return {
            "system": system,
            "query": "nested",
            "rps": rps,
            "peak_rss_mb": 100.0,
            "wrong": wrong,
        }

    rows = ratios([row("kopano", 300), row("apollo", 100), row("hive", 120, wrong=1)])
    assert [(r["ratio"], r["rps"], r["valid"]) for r in rows] == [
        ("ours / Apollo Gateway", 3.0, True),
        ("ours / Hive Gateway (dedup off)", 2.5, False),
    ]


def test_wrong_answers_and_timeouts_are_told_apart() -> None:
    wrk_checks = {"checked": 10, "non200": 1, "with_errors": 2, "len_mismatch": 3, "timeouts": 4}
    python_checks = {"deep_mismatch": 1, "unanswered": 2, "read_errors": 1, "connect_errors": 1}
    assert split_checks(wrk_checks) == (6, 4)
    assert split_checks(python_checks) == (1, 4)
