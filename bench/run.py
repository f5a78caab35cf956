"""Run the gateway benchmark matrix and print the comparison.

    python -m bench                      # everything: both queries, every gateway found
    python -m bench --quick              # 3 s warm-up + 5 s measured per scenario
    python -m bench --systems kopano,apollo --queries nested -d 10

For each query (``nested``: graphql-gateways-benchmark's TestQuery, ``small``: one fetch) and each
gateway (ours with in-flight deduplication off and on; when Node is installed, Apollo Gateway and
Hive Gateway with every deduplication off, and Hive Gateway with its deduplication on), the runner
starts the gateway pinned to one core (``--gateway-cpu``, default 1) while the subgraphs and the load
generator share another (``--aux-cpu``, default 0), checks responses against the oracle, warms up,
measures at fixed concurrency, and records RPS, latency percentiles, the gateway's peak RSS, subgraph
requests per client request, correctness failures and how busy the host was. Results go to
``bench/results/<time>.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench import loadgen, node, procstat
from bench.compose import BASE_URL, SUPERGRAPH

HERE = Path(__file__).resolve().parent
QUERIES = {
    "nested": HERE / "queries" / "nested.graphql",
    "small": HERE / "queries" / "small.graphql",
}
HOST = "127.0.0.1"


@dataclass(frozen=True)
class System:
    key: str
    label: str
    kind: str  # kopano | apollo | hive | monolith
    dedup: bool


SYSTEMS: dict[str, System] = {
    s.key: s
    for s in [
        System("kopano", "Kopano gateway (dedup off)", "kopano", False),
        System("kopano-dedup", "Kopano gateway (dedup on)", "kopano", True),
        System("apollo", "Apollo Gateway", "apollo", False),
        System("hive", "Hive Gateway (dedup off)", "hive", False),
        System("hive-dedup", "Hive Gateway (dedup on)", "hive", True),
        System("monolith", "monolith, no gateway (graphql-core)", "monolith", False),
    ]
}
DEFAULT_SYSTEMS = "kopano,kopano-dedup,apollo,hive,hive-dedup"


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def post(url: str, body: bytes, timeout: float = 10.0) -> tuple[int, bytes]:
    req = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as r:
        return orjson.loads(r.read())


def pinned(cmd: list[str], cpu: str | None) -> list[str]:
    return ["taskset", "-c", cpu, *cmd] if cpu is not None and shutil.which("taskset") else cmd


class Proc:
    """A child process in its own session, logged to a file, stopped with its whole group."""

    def __init__(self, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.log = log
        self.p = subprocess.Popen(
            cmd,
            env={**os.environ, **(env or {})},
            stdout=log.open("wb"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pid(self) -> int:
        return self.p.pid

    def alive(self) -> bool:
        return self.p.poll() is None

    def stop(self) -> None:
        if self.p.poll() is None:
            os.killpg(self.p.pid, signal.SIGTERM)
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.p.pid, signal.SIGKILL)
                self.p.wait()

    def tail(self, n: int = 1500) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def wait_ready(proc: Proc, url: str, body: bytes, secs: float = 90.0) -> str | None:
    """Wait until ``url`` answers ``body`` with data; returns an error text if it never does.

    A gateway that listens but keeps answering without data gets 15 s, not the whole start-up time.
    """
    deadline = time.time() + secs
    last = ""
    while time.time() < deadline:
        if not proc.alive():
            return f"exited with {proc.p.returncode}: {proc.tail()}"
        try:
            status, text = post(url, body, timeout=5)
            if status == 200 and b'"data"' in text:
                return None
            last = f"status {status}: {text[:300]!r}"
            deadline = min(deadline, time.time() + 15)
        except OSError as exc:
            last = str(exc)
        time.sleep(0.3)
    return f"not ready ({last}); log: {proc.log}"


@dataclass
class Load:
    """The load generator: wrk when installed, else the built-in Python one."""

    tool: str
    connections: int
    workers: int
    timeout: float
    run_dir: Path

    def run(
        self, url: str, body_file: Path, oracle: Any, expected_len: int, secs: float
    ) -> dict[str, Any]:
        if self.tool == "wrk":
            return self._wrk(url, body_file, expected_len, secs)
        res = loadgen.run_load(
            url,
            body_file.read_bytes(),
            oracle=oracle,
            connections=self.connections,
            duration=secs,
            workers=self.workers,
            timeout=self.timeout,
        )
        return res.as_dict()

    def _wrk(self, url: str, body_file: Path, expected_len: int, secs: float) -> dict[str, Any]:
        cmd = [
            "wrk",
            f"-t{self.workers}",
            f"-c{self.connections}",
            f"-d{max(1, round(secs))}s",
            "--timeout",
            f"{self.timeout:g}s",
            "-s",
            str(HERE / "wrk.lua"),
            url,
        ]
        env = {**os.environ, "BODY_FILE": str(body_file), "EXPECTED_LEN": str(expected_len)}
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        m = re.search(r"^BENCH_JSON (.*)$", proc.stdout, re.M)
        if not m:
            raise RuntimeError(f"wrk failed: {proc.stdout[-500:]} {proc.stderr[-500:]}")
        out: dict[str, Any] = json.loads(m.group(1))
        c = out["checks"]
        out["failures"] = sum(
            c[k]
            for k in (
                "non200",
                "with_errors",
                "len_mismatch",
                "connect_errors",
                "read_errors",
                "write_errors",
                "timeouts",
                "status_errors",
            )
        )
        return out


@dataclass
class Env:
    args: argparse.Namespace
    run_dir: Path
    load: Load
    subgraphs_url: str
    subgraphs: Proc
    supergraph: Path
    node_dir: Path | None
    bodies: dict[str, Path]
    oracles: dict[str, Any]
    oracle_bytes: dict[str, int]
    notes: list[str] = field(default_factory=list)


def gateway_command(env: Env, system: System, port: int) -> tuple[list[str], dict[str, str], str]:
    """Command, extra environment and GraphQL URL for ``system`` listening on ``port``."""
    url = f"http://{HOST}:{port}/graphql"
    if system.kind == "kopano":
        cmd = [
            sys.executable,
            "-m",
            "gateway",
            "--supergraph",
            str(env.supergraph),
            "--host",
            HOST,
            "--port",
            str(port),
        ]
        return ([*cmd, *([] if system.dedup else ["--no-dedup"])], {}, url)
    if system.kind == "monolith":
        # baseline: a subgraph server of its own, cache off, executes the whole query itself
        cmd = [
            sys.executable,
            "-m",
            "bench.subgraphs",
            "--host",
            HOST,
            "--port",
            str(port),
            "--no-cache",
        ]
        return (cmd, {}, f"http://{HOST}:{port}/monolith")
    assert env.node_dir is not None
    node_env = {"NODE_ENV": "production", "HOST": HOST, "PORT": str(port)}
    if system.kind == "apollo":
        return (
            node.apollo_command(env.node_dir),
            {**node_env, "SUPERGRAPH": str(env.supergraph)},
            url,
        )
    if system.kind == "hive":
        dedup = "1" if system.dedup else "0"
        return (
            node.hive_command(env.node_dir, env.supergraph, HOST, port),
            {**node_env, "HIVE_DEDUP": dedup, "HIVE_UPSTREAM_DEDUP": dedup},
            url,
        )
    # monolith baseline: a subgraph server of its own, cache off, as the system under test
    cmd = [
        sys.executable,
        "-m",
        "bench.subgraphs",
        "--host",
        HOST,
        "--port",
        str(port),
        "--no-cache",
    ]
    return (cmd, {}, f"http://{HOST}:{port}/monolith")


def run_scenario(env: Env, system: System, query: str) -> dict[str, Any]:
    a = env.args
    name = f"{system.key}-{query}"
    body_file = env.bodies[query]
    body = body_file.read_bytes()
    oracle = env.oracles[query]
    port = free_port()
    cmd, extra_env, url = gateway_command(env, system, port)
    result: dict[str, Any] = {
        "system": system.key,
        "label": system.label,
        "query": query,
        "url": url,
    }
    result["host_busy_before"] = wait_idle(a.idle_wait, a.contention_threshold)
    print(f"--- {name}: starting", file=sys.stderr, flush=True)
    gw = Proc(pinned(cmd, a.gateway_cpu), env.run_dir / f"{name}.log", extra_env)
    try:
        error = wait_ready(gw, url, env.bodies["small"].read_bytes(), a.start_timeout)
        if error:
            result["error"] = f"gateway did not start: {error}"
            return result
        result["verify_before"] = _sample(env, url, body, oracle)
        expected_len = _expected_len(url, body, oracle)
        if expected_len < 0:
            _, sample = post(url, body)
            result["error"] = f"response differs from the oracle: {sample[:400]!r}"
            result["expected_len"] = expected_len
        # the plan's size: subgraph requests for one request on its own (no deduplication possible)
        before = get_json(env.subgraphs_url + "/stats")["total"]
        post(url, body, timeout=30)
        result["fetches_per_request"] = get_json(env.subgraphs_url + "/stats")["total"] - before
        if a.check_only:
            result["correct"] = expected_len >= 0 and result["verify_before"]["bad"] == 0
            if not result["correct"] and "error" not in result:
                result["error"] = f"wrong answers: {result['verify_before']}"
            return result
        if a.warmup > 0:
            env.load.run(url, body_file, oracle, expected_len, a.warmup)
        sg0 = get_json(env.subgraphs_url + "/stats")
        t0, cpu0, time0, own0 = (
            procstat.process_ticks(),
            procstat.CpuSample.take(),
            time.time(),
            os.times(),
        )
        profiler = _start_profiler(env, system, gw, name)
        load = env.load.run(url, body_file, oracle, expected_len, a.duration)
        t1, cpu1, time1, own1 = (
            procstat.process_ticks(),
            procstat.CpuSample.take(),
            time.time(),
            os.times(),
        )
        sg1 = get_json(env.subgraphs_url + "/stats")
        if profiler is not None:
            result["profile"] = _finish_profiler(profiler, env.run_dir / f"{name}.folded")
        result["verify_after"] = _sample(env, url, body, oracle)
        secs = time1 - time0
        gw_pids = set(procstat.descendants(gw.pid))
        sg_pids = set(procstat.descendants(env.subgraphs.pid))
        gw_cpu = procstat.cpu_pct(t0, t1, gw_pids, secs)
        sg_cpu = procstat.cpu_pct(t0, t1, sg_pids, secs)
        # this process and its waited-for children (wrk, load generator workers)
        own_cpu = round(100 * (sum(own1[:4]) - sum(own0[:4])) / secs, 1)
        per_core = cpu1.busy_since(cpu0)
        other_cpu = round(max(0.0, sum(per_core.values()) - gw_cpu - sg_cpu - own_cpu), 1)
        checks = [
            load["checks"],
            result["verify_before"]["checks"],
            result["verify_after"]["checks"],
        ]
        result.update(
            load=load,
            rps=load["rps"],
            lat_ms=load["lat_ms"],
            peak_rss_mb=procstat.peak_rss_mb(gw.pid),
            subgraph_requests_per_request=round(
                (sg1["total"] - sg0["total"]) / max(1, load["requests"]), 2
            )
            if system.kind != "monolith"
            else None,
            wrong=sum(split_checks(c)[0] for c in checks) + (1 if expected_len < 0 else 0),
            errors=sum(split_checks(c)[1] for c in checks),
            cpu_pct={  # 100 = one core
                "gateway": gw_cpu,
                "subgraphs": sg_cpu,
                "load_generator": own_cpu,
                # host busy time nobody here used: other work on a shared machine
                "other": other_cpu,
                "per_core_busy": per_core,
            },
        )
        # throughput per core the gateway actually got: comparable across runs when other work
        # took part of the gateway's core (meaningful while the gateway is CPU-bound)
        result["rps_per_core"] = round(load["rps"] / (gw_cpu / 100), 1) if gw_cpu > 0 else None
        result["contended"] = result["cpu_pct"]["other"] > a.contention_threshold
        return result
    finally:
        gw.stop()


def run_with_retries(env: Env, system: System, query: str) -> dict[str, Any]:
    """Run a scenario; rerun it (``--retries``) while other work competed for the CPU.

    Keeps the attempt that other work disturbed least.
    """
    best: dict[str, Any] | None = None
    for attempt in range(1, env.args.retries + 2):
        r = run_scenario(env, system, query)
        r["attempt"] = attempt
        print(_one_line(r), file=sys.stderr, flush=True)
        if "load" not in r:
            return r
        if best is None or r["cpu_pct"]["other"] < best["cpu_pct"]["other"]:
            best = r
        if not r["contended"]:
            break
    assert best is not None
    return best


def wait_idle(max_wait: float, threshold: float) -> float:
    """Wait up to ``max_wait`` s for the host to be nearly idle; returns the last busy % seen."""
    deadline = time.time() + max_wait
    while True:
        before = procstat.CpuSample.take()
        time.sleep(2)
        busy = round(sum(procstat.CpuSample.take().busy_since(before).values()), 1)
        if busy < threshold or time.time() >= deadline:
            return busy
        print(f"host busy ({busy:.0f}% of one core), waiting...", file=sys.stderr, flush=True)


def _sample(env: Env, url: str, body: bytes, oracle: Any) -> dict[str, Any]:
    """Deep-compare one answer per fresh connection; note how many subgraph requests it caused."""
    before = get_json(env.subgraphs_url + "/stats")["total"]
    out = loadgen.verify(url, body, oracle, connections=env.args.connections)
    out["subgraph_requests"] = get_json(env.subgraphs_url + "/stats")["total"] - before
    return out


WRONG_KEYS = ("non200", "with_errors", "len_mismatch", "deep_mismatch")
ERROR_KEYS = ("connect_errors", "read_errors", "write_errors", "timeouts", "unanswered")


def split_checks(checks: dict[str, int]) -> tuple[int, int]:
    """(wrong answers, timeouts and socket errors) from a load generator's check counters."""
    return (
        sum(checks.get(k, 0) for k in WRONG_KEYS),
        sum(checks.get(k, 0) for k in ERROR_KEYS),
    )


def _expected_len(url: str, body: bytes, oracle: Any) -> int:
    """Length of the gateway's response if it deep-equals the oracle, else -1."""
    status, text = post(url, body, timeout=30)
    try:
        ok = status == 200 and orjson.loads(text) == oracle
    except orjson.JSONDecodeError:
        ok = False
    return len(text) if ok else -1


@dataclass
class _Profiler:
    proc: subprocess.Popen[bytes]
    out: Path


def _start_profiler(env: Env, system: System, gw: Proc, name: str) -> _Profiler | None:
    if not env.args.profile or system.kind != "kopano":
        return None
    spy = shutil.which("py-spy")
    if spy is None:
        env.notes.append(
            "--profile: py-spy not found (pip install py-spy / uv tool install py-spy)"
        )
        return None
    # the gateway is the python child of taskset (same pid after exec)
    out = env.run_dir / f"{name}.folded"
    cmd = [
        spy,
        "record",
        "--pid",
        str(gw.pid),
        "--duration",
        str(max(1, int(env.args.duration))),
        "--rate",
        "100",
        "--format",
        "raw",
        "--nonblocking",
        "--output",
        str(out),
    ]
    proc = subprocess.Popen(
        pinned(cmd, env.args.aux_cpu), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    return _Profiler(proc, out)


def _finish_profiler(p: _Profiler, out: Path) -> dict[str, Any]:
    try:
        p.proc.wait(30)
    except subprocess.TimeoutExpired:
        p.proc.kill()
    if not out.exists():
        return {"error": "py-spy wrote no profile (ptrace not permitted?)"}
    return summarise_folded(out.read_text())


def summarise_folded(text: str, top: int = 20) -> dict[str, Any]:
    """Top functions by own and by inclusive samples from py-spy's folded ('raw') output."""
    own: dict[str, int] = {}
    incl: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        count = int(count_s)
        total += count
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + count
        for f in set(frames):
            incl[f] = incl.get(f, 0) + count

    root = max(incl.values(), default=0)

    def ranked(d: dict[str, int]) -> list[tuple[str, float]]:
        # frames on (nearly) every sampled stack — interpreter start-up, the server's run loop —
        # say nothing about where the time goes
        keep = ((k, v) for k, v in d.items() if d is own or v < 0.9 * root)
        items = sorted(keep, key=lambda kv: -kv[1])[:top]
        return [(k, round(100 * v / max(1, total), 1)) for k, v in items]

    return {"samples": total, "own_pct": ranked(own), "inclusive_pct": ranked(incl)}


# --- report ----------------------------------------------------------------------------------


def _fmt(v: float | None, digits: int = 0) -> str:
    return "-" if v is None else f"{v:,.{digits}f}"


def table(results: list[dict[str, Any]]) -> str:
    if results and all("correct" in r or "load" not in r for r in results):
        return check_table(results)
    lines = [
        "| query | system | RPS | p50 ms | p95 ms | p99 ms | peak RSS MB | fetches (1 req)"
        " | subgraph req / req under load | wrong answers | timeouts, socket errors"
        " | gateway CPU % | RPS / gateway core | other CPU % |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        if "error" in r and "load" not in r:
            lines.append(
                f"| {r['query']} | {r['label']} | error: {_last_line(r['error'])} |||||||||"
            )
            continue
        lat = r["lat_ms"]
        cpu = r["cpu_pct"]
        lines.append(
            f"| {r['query']} | {r['label']} | {_fmt(r['rps'])} | {_fmt(lat['p50'], 1)} | "
            f"{_fmt(lat['p95'], 1)} | {_fmt(lat['p99'], 1)} | {_fmt(r['peak_rss_mb'])} | "
            f"{_fmt(r.get('fetches_per_request'))} | "
            f"{_fmt(r['subgraph_requests_per_request'], 2)} | {r['wrong']}"
            f"{' (WRONG)' if 'error' in r else ''} | {r['errors']} | {_fmt(cpu['gateway'])} | "
            f"{_fmt(r.get('rps_per_core'))} | "
            f"{_fmt(cpu['other'])}{' contended' if r.get('contended') else ''} |"
        )
    return "\n".join(lines)


def check_table(results: list[dict[str, Any]]) -> str:
    lines = ["| query | system | answer |", "|---|---|---|"]
    for r in results:
        verdict = "correct" if r.get("correct") else f"WRONG: {_last_line(r.get('error', '?'))}"
        lines.append(f"| {r['query']} | {r['label']} | {verdict} |")
    return "\n".join(lines)


RATIOS = [
    ("kopano", "apollo", "ours / Apollo Gateway"),
    ("kopano", "hive", "ours / Hive Gateway (dedup off)"),
    ("kopano-dedup", "hive-dedup", "ours / Hive Gateway (both dedup on)"),
]


def ratios(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by = {(r["system"], r["query"]): r for r in results if "rps" in r}
    out = []
    for query in dict.fromkeys(r["query"] for r in results):
        for ours, theirs, label in RATIOS:
            a, b = by.get((ours, query)), by.get((theirs, query))
            if a and b and b["rps"]:
                out.append(
                    {
                        "query": query,
                        "ratio": label,
                        "rps": round(a["rps"] / b["rps"], 2),
                        "rps_per_core": round(a["rps_per_core"] / b["rps_per_core"], 2)
                        if a.get("rps_per_core") and b.get("rps_per_core")
                        else None,
                        "peak_rss": round(a["peak_rss_mb"] / max(1e-9, b["peak_rss_mb"]), 2),
                        "valid": not (a["wrong"] or b["wrong"]),
                    }
                )
    return out


def ratio_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return ""
    lines = [
        "| query | ratio | RPS | RPS / gateway core | peak RSS |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows:
        flag = "" if r["valid"] else " (a side gave wrong answers)"
        per_core = "-" if r.get("rps_per_core") is None else f"{r['rps_per_core']:.2f}x"
        lines.append(
            f"| {r['query']} | {r['ratio']}{flag} | {r['rps']:.2f}x | {per_core} | "
            f"{r['peak_rss']:.2f}x |"
        )
    return "\n".join(lines)


# --- main --------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    ap.add_argument(
        "--systems", default=DEFAULT_SYSTEMS, help=f"comma list of {', '.join(SYSTEMS)}"
    )
    ap.add_argument("--queries", default="nested,small", help="comma list of nested, small")
    ap.add_argument("-c", "--connections", type=int, default=50)
    ap.add_argument("-d", "--duration", type=float, default=20.0, help="measured seconds")
    ap.add_argument("--warmup", type=float, default=10.0, help="warm-up seconds")
    ap.add_argument("--quick", action="store_true", help="3 s warm-up, 5 s measured")
    ap.add_argument(
        "--check-only",
        action="store_true",
        help="only compare each system's answers with the oracle",
    )
    ap.add_argument("--loadgen", choices=["auto", "wrk", "python"], default="auto")
    ap.add_argument("--workers", type=int, default=1, help="load generator threads / processes")
    ap.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    ap.add_argument("--gateway-cpu", default="1", help="core for the gateway ('none': no pinning)")
    ap.add_argument("--aux-cpu", default="0", help="core for subgraphs and load generator")
    ap.add_argument("--subgraph-port", type=int, default=0, help="0: a free port")
    ap.add_argument("--no-subgraph-cache", action="store_true")
    ap.add_argument("--no-node", action="store_true", help="skip Apollo Gateway and Hive Gateway")
    ap.add_argument("--profile", action="store_true", help="py-spy profile of our gateway")
    ap.add_argument("--start-timeout", type=float, default=90.0)
    ap.add_argument(
        "--idle-wait",
        type=float,
        default=30.0,
        help="seconds to wait for other work on the host to calm down before each scenario",
    )
    ap.add_argument(
        "--contention-threshold",
        type=float,
        default=15.0,
        help="flag a run when other processes used more CPU than this (%% of one core)",
    )
    ap.add_argument(
        "--retries", type=int, default=0, help="reruns of a scenario marked contended (best kept)"
    )
    ap.add_argument("--out", default=str(HERE / "results"))
    a = ap.parse_args(argv)
    if a.quick:
        a.duration, a.warmup = 5.0, 3.0
    if a.gateway_cpu == "none":
        a.gateway_cpu = a.aux_cpu = None
    return a


def main(argv: list[str] | None = None) -> int:
    a = parse_args(argv)
    systems = [SYSTEMS[s] for s in a.systems.split(",") if s]
    queries = [q for q in a.queries.split(",") if q]
    notes: list[str] = []
    if a.aux_cpu is not None and hasattr(os, "sched_setaffinity"):
        ncpu = os.cpu_count() or 1
        if ncpu < 2:
            notes.append("one CPU only: no pinning")
            a.gateway_cpu = a.aux_cpu = None
        else:
            os.sched_setaffinity(0, {int(a.aux_cpu)})  # the Python load generator runs here

    tool = a.loadgen
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"
        if tool == "python":
            notes.append(
                "wrk not found: using the built-in Python load generator "
                "(for less load-generator overhead install wrk: `apt-get install wrk` or `brew install wrk`)"
            )
    elif tool == "wrk" and not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (apt-get install wrk); use --loadgen python")

    node_dir: Path | None = None
    wanted_node = [s for s in systems if s.kind in ("apollo", "hive")]
    if wanted_node:
        if a.no_node or not node.node_available():
            notes.append(
                "Node.js/npm not found or --no-node: Apollo Gateway and Hive Gateway skipped"
            )
            systems = [s for s in systems if s not in wanted_node]
        else:
            node_dir = node.ensure_installed()

    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    out_dir = Path(a.out)
    run_dir = out_dir / stamp
    run_dir.mkdir(parents=True, exist_ok=True)

    sg_port = a.subgraph_port or free_port()
    sg_url = f"http://{HOST}:{sg_port}"
    sg_cmd = [sys.executable, "-m", "bench.subgraphs", "--host", HOST, "--port", str(sg_port)]
    if a.no_subgraph_cache:
        sg_cmd.append("--no-cache")
    subgraphs = Proc(pinned(sg_cmd, a.aux_cpu), run_dir / "subgraphs.log")
    results: list[dict[str, Any]] = []
    try:
        err = _wait_health(subgraphs, sg_url + "/health")
        if err:
            raise SystemExit(f"subgraph server did not start: {err}")
        supergraph = run_dir / "supergraph.graphql"
        supergraph.write_text(SUPERGRAPH.read_text().replace(BASE_URL, sg_url))
        bodies: dict[str, Path] = {}
        oracles: dict[str, Any] = {}
        oracle_bytes: dict[str, int] = {}
        for q, path in QUERIES.items():
            bodies[q] = run_dir / f"{q}.json"
            bodies[q].write_bytes(orjson.dumps({"query": path.read_text()}))
            status, text = post(sg_url + "/monolith", bodies[q].read_bytes())
            oracles[q] = orjson.loads(text)
            oracle_bytes[q] = len(text)
            if status != 200 or "errors" in oracles[q]:
                raise SystemExit(f"oracle failed for {q}: {text[:300]!r}")
        load = Load(tool, a.connections, a.workers, a.timeout, run_dir)
        env = Env(
            a,
            run_dir,
            load,
            sg_url,
            subgraphs,
            supergraph,
            node_dir,
            bodies,
            oracles,
            oracle_bytes,
            notes,
        )
        print(
            f"load generator: {tool}, {a.connections} connections, warm-up {a.warmup:g}s, "
            f"measured {a.duration:g}s; gateway on cpu {a.gateway_cpu}, subgraphs and load on cpu "
            f"{a.aux_cpu}; results in {run_dir}",
            file=sys.stderr,
        )
        for q in queries:
            for system in systems:
                results.append(run_with_retries(env, system, q))
    finally:
        subgraphs.stop()

    summary = {
        "time": stamp,
        "host": {
            "cpus": os.cpu_count(),
            "python": sys.version.split()[0],
            "platform": sys.platform,
        },
        "settings": {k: v for k, v in vars(a).items()},
        "load_generator": tool,
        "node_versions": node.versions(node_dir) if node_dir else None,
        "oracle_bytes": oracle_bytes,
        "notes": notes,
        "results": results,
        "ratios": ratios(results),
    }
    report = "\n\n".join(
        x
        for x in [
            table(results),
            ratio_table(summary["ratios"]),
            "\n".join(f"note: {n}" for n in notes),
            "\n\n".join(_profile_text(r) for r in results if "profile" in r),
        ]
        if x
    )
    (out_dir / f"{stamp}.json").write_text(json.dumps(summary, indent=2))
    (out_dir / f"{stamp}.md").write_text(report + "\n")
    print(report)
    print(f"\nwritten: {out_dir / stamp}.json and .md", file=sys.stderr)
    if a.check_only:
        return 0 if all(r.get("correct") for r in results) else 1
    return 1 if any(r.get("wrong") or "error" in r for r in results) else 0


def _wait_health(proc: Proc, url: str, secs: float = 30) -> str | None:
    deadline = time.time() + secs
    while time.time() < deadline:
        if not proc.alive():
            return proc.tail()
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                if r.status == 200:
                    return None
        except OSError:
            time.sleep(0.2)
    return "timeout"


def _last_line(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    return (lines[-1] if lines else "")[:160].replace("|", "/")


def _one_line(r: dict[str, Any]) -> str:
    if "load" not in r:
        return f"{r['system']}-{r['query']}: {_last_line(r.get('error', '?'))}"
    return (
        f"{r['system']}-{r['query']}: {r['rps']:.0f} RPS, p50 {r['lat_ms']['p50']:.1f} ms, "
        f"p99 {r['lat_ms']['p99']:.1f} ms, {r['peak_rss_mb']:.0f} MB, wrong {r['wrong']}, "
        f"timeouts/socket errors {r['errors']}, "
        f"cpu {r['cpu_pct']}"
    )


def _profile_text(r: dict[str, Any]) -> str:
    p = r["profile"]
    if "error" in p:
        return f"profile {r['system']}-{r['query']}: {p['error']}"
    own = "\n".join(f"  {pct:5.1f}%  {fn}" for fn, pct in p["own_pct"])
    incl = "\n".join(f"  {pct:5.1f}%  {fn}" for fn, pct in p["inclusive_pct"])
    return (
        f"profile {r['system']}-{r['query']} ({p['samples']} samples)\nown time:\n{own}\n"
        f"inclusive:\n{incl}"
    )


if __name__ == "__main__":
    raise SystemExit(main())
