"""The Speedy Gonzales demo, against Stoker: submit jobs, watch them run, print what they wrote.

    make run                               # in one terminal; note the admin token it prints
    export STOKER_TOKEN=stk_...            # in another
    .venv/bin/python examples/speedy_demo.py

The S3 variant uploads a CSV to a bucket, submits the Speedy example with the caller's own keys in
`options.s3` (read CSV from S3, filter, write Parquet to S3), then reads the Parquet back:

    export AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=...   # keys that may write the bucket
    export STOKER_DEMO_S3_ENDPOINT=http://127.0.0.1:5000      # only for an S3-compatible store
    .venv/bin/python examples/speedy_demo.py --s3 my-bucket

Only the Speedy API submits and watches (POST /jobs/submit, GET /jobs/status/{id}); the local
output lands in the storage root (data/files by default), read back here through a collect run.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

import httpx

URL = os.environ.get("STOKER_URL", "http://127.0.0.1:8000")
TOKEN = os.environ.get("STOKER_TOKEN")
ENDED = ("SUCCEEDED", "FAILED", "CANCELLED")

JOBS = [
    [["range", 1000], ["with_column", "square", "id * id"], ["filter", "id % 100 = 0"],
     ["write_csv", "demo/squares", "overwrite"]],
    [["range", 1000], ["with_column", "bucket", "id % 7"],
     ["group_by", ["bucket"], {"n": "count(*)", "total": "sum(id)"}], ["sort", "bucket"],
     ["write_json", "demo/buckets", "overwrite"]],
]
PEOPLE = "name,age,city\nana,34,Lisbon\nbo,28,Oslo\ncy,41,Lisbon\ndee,52,Oslo\n"


def submit_and_follow(http: httpx.Client, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Submit each body to Speedy's /jobs/submit, print status changes until all end, return the runs."""
    ids = [http.post("/jobs/submit", json=body).json()["job_id"] for body in bodies]
    print("submitted:", *ids)
    last: dict[str, str] = {}
    while True:
        statuses = {i: http.get(f"/jobs/status/{i}").json()["status"] for i in ids}
        if statuses != last:
            print("  ".join(f"{i[:8]}={s}" for i, s in statuses.items()))
            last = statuses
        if all(s in ENDED for s in statuses.values()):
            break
        time.sleep(0.2)
    runs = [http.get(f"/api/v1/runs/{i}").json() for i in ids]
    for run in runs:
        print(f"\njob {run['id']}: {run['state']} {run['error'] or ''}")
    return runs


def local_demo(http: httpx.Client) -> bool:
    runs = submit_and_follow(http, [{"steps": steps} for steps in JOBS])
    for run in runs:
        result = run["result"]
        if not result:
            continue
        print(f"  wrote {result['rows']} rows as {result['format']} to {result['path']}")
        for name in sorted(os.listdir(result["path"])) if os.path.isdir(result["path"]) else []:
            if name.startswith("part-"):
                print(f"  --- {name}")
                with open(os.path.join(result["path"], name)) as fh:
                    print("  " + fh.read().strip().replace("\n", "\n  "))
    return all(run["state"] == "SUCCEEDED" for run in runs)


def s3_options_from_environment() -> dict[str, str]:
    """The caller's own keys, as a run's options.s3 (they travel with the run, sealed at rest)."""
    options = {"aws_access_key_id": os.environ.get("AWS_ACCESS_KEY_ID", ""),
               "aws_secret_access_key": os.environ.get("AWS_SECRET_ACCESS_KEY", ""),
               "region": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    if os.environ.get("AWS_SESSION_TOKEN"):
        options["aws_session_token"] = os.environ["AWS_SESSION_TOKEN"]
    if os.environ.get("STOKER_DEMO_S3_ENDPOINT"):
        options["endpoint_url"] = os.environ["STOKER_DEMO_S3_ENDPOINT"]
    return options


def s3_demo(http: httpx.Client, bucket: str, s3: dict[str, str]) -> list[list[Any]] | None:
    """Upload people.csv, run the Speedy example on S3 with these keys, read the Parquet back.
    Returns the adults read back, or None when a run did not succeed."""
    import boto3  # only the S3 variant needs it, to upload the input

    boto3.client("s3", endpoint_url=s3.get("endpoint_url"), region_name=s3.get("region"),
                 aws_access_key_id=s3["aws_access_key_id"], aws_secret_access_key=s3["aws_secret_access_key"],
                 aws_session_token=s3.get("aws_session_token"),
                 ).put_object(Bucket=bucket, Key="demo/in/people.csv", Body=PEOPLE.encode())
    print(f"uploaded s3://{bucket}/demo/in/people.csv")
    write = [["read_csv", f"s3://{bucket}/demo/in/people.csv", {"header": True, "inferSchema": True}],
             ["filter", "age > 30"], ["write_parquet", f"s3://{bucket}/demo/out/adults/", "overwrite"]]
    (written,) = submit_and_follow(http, [{"steps": write, "options": {"s3": s3}}])
    if written["state"] != "SUCCEEDED":
        return None
    print(f"  wrote {written['result']['rows']} rows to {written['result']['path']}")
    read = [["read_parquet", f"s3a://{bucket}/demo/out/adults/"], ["sort", "name"], ["collect"]]
    (back,) = submit_and_follow(http, [{"steps": read, "options": {"s3": s3}}])
    if back["state"] != "SUCCEEDED":
        return None
    rows: list[list[Any]] = back["result"]["rows"]
    print("  ", [column["name"] for column in back["result"]["columns"]])
    for row in rows:
        print("  ", row)
    return rows


def main(argv: list[str]) -> int:
    if not TOKEN:
        print("set STOKER_TOKEN to the token `make run` printed", file=sys.stderr)
        return 2
    http = httpx.Client(base_url=URL, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    if argv[:1] == ["--s3"] and len(argv) == 2:
        return 0 if s3_demo(http, argv[1], s3_options_from_environment()) else 1
    if argv:
        print("usage: speedy_demo.py [--s3 BUCKET]", file=sys.stderr)
        return 2
    return 0 if local_demo(http) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
