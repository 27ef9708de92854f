"""The Speedy Gonzales demo, against Stoker: submit two jobs, watch them run one after the other,
print the files they wrote.

    make run                               # in one terminal; note the admin token it prints
    export STOKER_TOKEN=stk_...            # in another
    .venv/bin/python examples/speedy_demo.py

Only the Speedy API is used (POST /jobs/submit, GET /jobs/status/{id}); the output lands in the
storage root (data/files by default), read back here through a collect run.
"""

from __future__ import annotations

import os
import sys
import time

import httpx

URL = os.environ.get("STOKER_URL", "http://127.0.0.1:8000")
TOKEN = os.environ.get("STOKER_TOKEN")

JOBS = [
    [["range", 1000], ["with_column", "square", "id * id"], ["filter", "id % 100 = 0"],
     ["write_csv", "demo/squares", "overwrite"]],
    [["range", 1000], ["with_column", "bucket", "id % 7"],
     ["group_by", ["bucket"], {"n": "count(*)", "total": "sum(id)"}], ["sort", "bucket"],
     ["write_json", "demo/buckets", "overwrite"]],
]


def main() -> int:
    if not TOKEN:
        print("set STOKER_TOKEN to the token `make run` printed", file=sys.stderr)
        return 2
    http = httpx.Client(base_url=URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    ids = [http.post("/jobs/submit", json={"steps": steps}).json()["job_id"] for steps in JOBS]
    print("submitted:", *ids)
    last: dict[str, str] = {}
    while True:
        statuses = {i: http.get(f"/jobs/status/{i}").json()["status"] for i in ids}
        if statuses != last:
            print("  ".join(f"{i[:8]}={s}" for i, s in statuses.items()))
            last = statuses
        if all(s in ("SUCCEEDED", "FAILED", "CANCELLED") for s in statuses.values()):
            break
        time.sleep(0.2)
    for job_id in ids:
        run = http.get(f"/api/v1/runs/{job_id}").json()
        print(f"\njob {job_id}: {run['state']} {run['error'] or ''}")
        if run["result"]:
            result = run["result"]
            print(f"  wrote {result['rows']} rows as {result['format']} to {result['path']}")
            for name in sorted(os.listdir(result["path"])) if os.path.isdir(result["path"]) else []:
                if name.startswith("part-"):
                    print(f"  --- {name}")
                    with open(os.path.join(result["path"], name)) as fh:
                        print("  " + fh.read().strip().replace("\n", "\n  "))
    return 0 if all(s == "SUCCEEDED" for s in last.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
