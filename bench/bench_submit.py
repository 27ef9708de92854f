"""One run per HTTP request, side by side with a bare FastAPI app on the same uvicorn settings.

Starts a bare FastAPI app (one async JSON endpoint) and `stoker serve --no-worker`, drives each with
`wrk` (Debian's package, installed if missing) for `--seconds` at 8 and 64 connections, and reports
requests/s, p50/p99 latency and Stoker's ratio to the bare app (run again right before each case:
each ratio is to the bare run next to it):

    .venv/bin/python bench/bench_submit.py [--seconds 10] [--postgres] [--profile DIR]

With --profile, `py-spy record --gil` samples `stoker serve` during each Stoker case (py-spy is not a
dependency: `.venv/bin/pip install py-spy`); the collapsed stacks go to DIR/<case>.txt and the
functions that take the most samples, by themselves and with what they call, are printed.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _server import TOKEN, free_port, print_table, stoker_server, write_results
from bench_noop import drop_postgres, fresh_postgres

BARE_APP = '''
from fastapi import FastAPI
app = FastAPI()

@app.post("/runs", status_code=201)
async def submit(body: dict) -> dict:
    return {"id": "x", "state": "QUEUED", **body}
'''

# Sate executes a processing request once at a time: each request of the case goes to a request
# of its own, created beforehand; wrk's two threads take alternate ones (a wrap-around would
# answer 409, counted as non-2xx).
LUA_SATE = '''
ids = {{{ids}}}
local next_thread = 0
function setup(thread)
  thread:set("first", next_thread)
  next_thread = next_thread + 1
end
function init(args)
  i = first
end
function request()
  i = i + 2
  return wrk.format("POST", "/requests/" .. ids[i % #ids + 1] .. "/executions",
                    {{["Content-Type"] = "application/json", ["Authorization"] = "Bearer {token}"}},
                    '{{"force_error": false}}')
end
'''

LUA_POST = '''
wrk.method = "POST"
wrk.body = '{body}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer {token}"
'''


def ensure_wrk() -> str:
    found = shutil.which("wrk")
    if found:
        return found
    subprocess.run(["apt-get", "install", "-y", "-q", "wrk"], check=True,
                   env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    return shutil.which("wrk") or "wrk"


def run_wrk(wrk: str, url: str, connections: int, seconds: int, script: Path | None) -> dict[str, float]:
    cmd = [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", url]
    if script is not None:
        cmd[1:1] = ["-s", str(script)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)

    def latency(p: str) -> float:
        m = re.search(rf"\s{p}%\s+([\d.]+)(us|ms|s)", out)
        assert m, out
        value, unit = float(m.group(1)), m.group(2)
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    return {"rps": rps, "p50_ms": latency("50"), "p99_ms": latency("99"),
            "errors": int(non2xx.group(1)) if non2xx else 0}


SATE = "sate"  # the Sate case's marker: its bodies come from LUA_SATE


def sate_requests(client: httpx.Client, count: int) -> list[str]:
    """Processing requests to execute, one each (Sate refuses a second while the first is active)."""
    return [client.post("/requests", json={"payload": {"message": "ping"}}).json()["id"] for _ in range(count)]


def bare_app(tmp: Path) -> tuple[subprocess.Popen[bytes], str]:
    (tmp / "bare_app.py").write_text(BARE_APP)
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "uvicorn", "bare_app:app", "--port", str(port),
                             "--log-level", "warning", "--no-access-log"], cwd=tmp,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.post(url + "/runs", json={})
            break
        except httpx.TransportError:
            time.sleep(0.1)
    return proc, url


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--only", default="", help="run only the endpoints whose name contains this "
                                                   "(the bare app always runs: the ratios need it)")
    parser.add_argument("--connections", default="8,64", help="comma-separated, e.g. 8 or 8,64")
    parser.add_argument("--profile", default="", help="directory for py-spy profiles of each Stoker case")
    parser.add_argument("--sate-requests", type=int, default=6000,
                        help="processing requests made before each Sate case (more than it executes)")
    args = parser.parse_args()
    wrk = ensure_wrk()
    rows, results = [], {}
    with tempfile.TemporaryDirectory(prefix="stoker-bench-submit-") as tmp_name:
        tmp = Path(tmp_name)
        script = tmp / "post.lua"
        pg_name, url = fresh_postgres() if args.postgres else (None, None)
        proc, bare = bare_app(tmp)
        try:
            with stoker_server(tmp / "data", database_url=url, args=("--no-worker",)) as client:
                client.post("/api/v1/jobs", json={"name": "nop", "steps": [["noop"]],
                                                  "max_concurrent_runs": 1000})
                run_id = client.post("/api/v1/jobs/nop/runs", json={}).json()["id"]
                base = str(client.base_url).rstrip("/")
                cases = [
                    ("bare FastAPI, async POST", bare + "/runs", '{"params": {}}'),
                    ("POST /api/v1/jobs/nop/runs", base + "/api/v1/jobs/nop/runs", "{}"),
                    ("POST /jobs/submit (Speedy)", base + "/jobs/submit", '{"steps": [["noop"]]}'),
                    ("GET /api/v1/runs/{id}", base + f"/api/v1/runs/{run_id}", None),
                    ("GET /jobs/status/{id} (Speedy)", base + f"/jobs/status/{run_id}", None),
                    ("POST /requests/{id}/executions (Sate)", base + "/requests/x/executions", SATE),
                ]
                cases = [c for c in cases if c[0].startswith("bare") or args.only in c[0]]
                bare_case, stoker_cases = cases[0], cases[1:]
                for connections in (int(c) for c in args.connections.split(",")):
                    # The bare app runs again right before each Stoker case and each ratio is to
                    # that run: on a machine shared with other work, minutes apart differ more.
                    for name, target, body in [x for case in stoker_cases for x in (bare_case, case)]:
                        if body is SATE:
                            ids = sate_requests(client, args.sate_requests)
                            script.write_text(LUA_SATE.format(ids=",".join(f'"{i}"' for i in ids), token=TOKEN))
                        elif body is not None:
                            script.write_text(LUA_POST.format(body=body, token=TOKEN))
                        else:
                            script.write_text(f'wrk.headers["Authorization"] = "Bearer {TOKEN}"\n')
                        spy = None
                        if args.profile and name != bare_case[0]:
                            spy = start_profile(Path(args.profile), f"{connections}-{name}", base, args.seconds)
                        figures = run_wrk(wrk, target, connections, args.seconds, script)
                        if spy is not None:
                            spy.wait(timeout=args.seconds + 60)
                            print_profile(Path(spy.args[-1]))
                        if name == bare_case[0]:
                            bare_rps = figures["rps"]
                        ratio = figures["rps"] / bare_rps
                        rows.append([connections, name, f"{figures['rps']:.0f}", f"{figures['p50_ms']:.2f}",
                                     f"{figures['p99_ms']:.2f}", f"{ratio:.0%}", figures["errors"]])
                        results.setdefault(f"{connections}:{name}", []).append({**figures, "ratio": ratio})
        finally:
            proc.terminate()
            if pg_name:
                drop_postgres(pg_name)
    print_table(["conns", "endpoint", "req/s", "p50 ms", "p99 ms", "vs bare", "non-2xx"], rows)
    write_results("submit-postgres" if args.postgres else "submit-sqlite", results)


def start_profile(directory: Path, case: str, base_url: str, seconds: int) -> subprocess.Popen:
    """py-spy sampling the server that listens at base_url for `seconds` (started before wrk)."""
    import psutil

    port = int(base_url.rsplit(":", 1)[1])
    pid = next(c.pid for c in psutil.net_connections("tcp")
               if c.status == psutil.CONN_LISTEN and c.laddr.port == port and c.pid)
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or "py-spy"
    directory.mkdir(parents=True, exist_ok=True)
    out = directory / (re.sub(r"[^A-Za-z0-9]+", "-", case).strip("-") + ".txt")
    return subprocess.Popen([spy, "record", "--gil", "-r", "250", "-f", "raw", "-d", str(seconds),
                             "-p", str(pid), "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def print_profile(raw: Path, top: int = 15) -> None:
    """The functions with the most samples: by themselves (the stack's last frame) and with what
    they call (every frame of the stack, once per stack)."""
    own: dict[str, int] = {}
    under: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = [re.sub(r" \(.*?/(site-packages|src)/", " (", f) for f in stack.split(";")]
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            under[frame] = under.get(frame, 0) + n
    print(f"{raw.name}: {total} samples")
    for title, table in (("by itself", own), ("with what it calls", under)):
        print(f"  {title}:")
        for frame, n in sorted(table.items(), key=lambda kv: -kv[1])[:top]:
            print(f"    {n / max(total, 1):6.1%}  {frame}")


if __name__ == "__main__":
    main()
