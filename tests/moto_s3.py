"""moto's real S3 server for tests: started on a free loopback port with IAM enforced.

moto lets the first INITIAL_NO_AUTH_ACTION_COUNT requests through unsigned, then checks every
request's signature and the policies of the user whose key signed it (docs: notes/s3.md). We spend
exactly those first requests creating users, keys and policies through its IAM API, so every later
request, including all of Stoker's, is authenticated and authorised for real.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Each user costs three IAM requests: CreateUser, CreateAccessKey, PutUserPolicy.
USERS = {"admin": None, "alice": "alice-bucket", "bob": "bob-bucket"}
SETUP_REQUESTS = 3 * len(USERS)


@dataclass(frozen=True)
class Keys:
    access_key: str
    secret_key: str

    def options(self, endpoint_url: str) -> dict[str, str]:
        """As a run's options.s3."""
        return {"aws_access_key_id": self.access_key, "aws_secret_access_key": self.secret_key,
                "endpoint_url": endpoint_url, "region": "us-east-1"}


@dataclass
class MotoS3:
    endpoint_url: str
    keys: dict[str, Keys]
    process: subprocess.Popen[bytes]

    def client(self, user: str = "admin"):
        import boto3

        keys = self.keys[user]
        return boto3.client("s3", endpoint_url=self.endpoint_url, region_name="us-east-1",
                            aws_access_key_id=keys.access_key, aws_secret_access_key=keys.secret_key)

    def options(self, user: str) -> dict[str, str]:
        return self.keys[user].options(self.endpoint_url)

    def keys_under(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.client().get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def empty(self, bucket: str) -> None:
        client = self.client()
        for key in self.keys_under(bucket):
            client.delete_object(Bucket=bucket, Key=key)


def _policy(bucket: str | None) -> str:
    resources = ["*"] if bucket is None else [f"arn:aws:s3:::{bucket}", f"arn:aws:s3:::{bucket}/*"]
    return json.dumps({"Version": "2012-10-17",
                       "Statement": [{"Effect": "Allow", "Action": "s3:*", "Resource": resources}]})


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Spawn = Callable[[list[str], dict[str, str], Path], "subprocess.Popen[bytes]"]


def _popen(argv: list[str], env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "wb") as log_file:  # the child keeps its own descriptor
        return subprocess.Popen(argv, env=env, stdout=log_file, stderr=subprocess.STDOUT)


def start_moto(log_path: Path, *, address: str = "127.0.0.1", spawn: Spawn = _popen) -> MotoS3:
    """moto listening on `address` (loopback, or a test host's own: tests/e2e/test_hosts_netns.py
    passes the address of its `s3` host and a `spawn` that starts the process on that host)."""
    import boto3

    executable = shutil.which("moto_server", path=str(Path(sys.executable).parent)) or "moto_server"
    port = _free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": str(SETUP_REQUESTS)}
    process = spawn([executable, "-H", address, "-p", str(port)], env, log_path)
    deadline = time.monotonic() + 30
    while True:  # a TCP connect is not an HTTP request, so it spends none of the free ones
        try:
            socket.create_connection((address, port), timeout=0.5).close()
            break
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                raise RuntimeError(f"moto_server did not start: {log_path.read_text()[-2000:]}") from None
            time.sleep(0.1)
    endpoint = f"http://{address}:{port}"
    iam = boto3.client("iam", endpoint_url=endpoint, region_name="us-east-1",
                       aws_access_key_id="setup", aws_secret_access_key="setup")
    keys: dict[str, Keys] = {}
    for user, bucket in USERS.items():
        iam.create_user(UserName=user)
        created = iam.create_access_key(UserName=user)["AccessKey"]
        iam.put_user_policy(UserName=user, PolicyName=f"{user}-s3", PolicyDocument=_policy(bucket))
        keys[user] = Keys(created["AccessKeyId"], created["SecretAccessKey"])
    moto = MotoS3(endpoint, keys, process)
    admin = moto.client()
    for bucket in USERS.values():
        if bucket:
            admin.create_bucket(Bucket=bucket)
    return moto


def stop_moto(moto: MotoS3) -> None:
    moto.process.terminate()
    try:
        moto.process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        moto.process.kill()
        moto.process.wait()
