"""S3 without Spark: URLs and bucket rules, run options, errors as people read them and as the
retry policy judges them, and boto3's retries with backoff against a flaky local endpoint."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest

from stoker.catalog import PathRefused, StorageRoots
from stoker.catalog.s3paths import S3Url, bucket_problem, options_problem, parse_s3_url
from stoker.executors.base import s3a_conf
from stoker.executors.failures import is_permanent
from stoker.executors.s3client import S3Failed, explain, s3_client


@pytest.mark.parametrize("bucket", ["abc", "my-bucket.2024", "a" * 63, "0bucket9"])
def test_valid_bucket_names(bucket):
    assert bucket_problem(bucket) is None


@pytest.mark.parametrize(("bucket", "why"), [
    ("ab", "3 to 63"), ("a" * 64, "3 to 63"), ("My_Bucket", "lowercase"), ("-abc", "start and end"),
    ("abc-", "start and end"), ("a..b", "two dots"), ("192.168.1.1", "IP address"),
    ("xn--bucket", "reserves"), ("data-s3alias", "reserves"),
])
def test_invalid_bucket_names(bucket, why):
    assert why in (bucket_problem(bucket) or "")


def test_s3_and_s3a_urls_parse_to_one_form():
    assert parse_s3_url("s3://bkt/in/people.csv") == S3Url("bkt", "in/people.csv")
    assert parse_s3_url("S3A://bkt/out/") == S3Url("bkt", "out/")
    assert parse_s3_url("s3a://bkt/out/").uri == "s3a://bkt/out/"
    assert parse_s3_url("/data/x.csv") is None
    with pytest.raises(ValueError, match="s3://bucket/key"):
        parse_s3_url("s3:///key")


def test_roots_refuse_bad_s3_urls_with_the_reason(tmp_path):
    roots = StorageRoots(tmp_path)
    assert roots.resolve("s3://bkt/x.csv") == "s3a://bkt/x.csv"
    with pytest.raises(PathRefused, match="lowercase"):
        roots.resolve("s3://Bad_Bucket/x.csv")
    with pytest.raises(PathRefused, match="bucket root"):
        roots.resolve_output("s3a://bkt")


def test_run_options_are_checked():
    assert options_problem({"aws_access_key_id": "A", "aws_secret_access_key": "S"}) is None
    assert "both" in (options_problem({"aws_access_key_id": "A"}) or "")
    assert "string" in (options_problem({"aws_access_key_id": 5}) or "")
    assert "http" in (options_problem({"endpoint_url": "ftp://x"}) or "")
    assert "object" in (options_problem("keys") or "")


def test_s3a_conf_isolates_each_runs_filesystem():
    conf = s3a_conf({"aws_access_key_id": "A", "aws_secret_access_key": "S", "endpoint_url": "http://h:1"})
    assert conf["fs.s3a.access.key"] == "A" and conf["fs.s3a.endpoint"] == "http://h:1"
    assert conf["fs.s3a.path.style.access"] == "true"
    assert conf["fs.s3a.impl.disable.cache"] == "true"  # no FileSystem (and keys) shared between runs


def test_every_s3a_key_holding_a_credential_is_one_sparks_redaction_hides():
    """The listener redacts with spark.redaction.regex (default below, from Spark's config): every
    setting the direct way fills with a credential must match it, or the key would reach an event."""
    import re

    spark_default = re.compile(r"(?i)secret|password|token|access[.]key")
    conf = s3a_conf({"aws_access_key_id": "A1", "aws_secret_access_key": "S1", "aws_session_token": "T1",
                     "endpoint_url": "http://h:1", "region": "r"})
    holding = [key for key, value in conf.items() if value in ("A1", "S1", "T1")]
    assert sorted(holding) == ["fs.s3a.access.key", "fs.s3a.secret.key", "fs.s3a.session.token"]
    assert all(spark_default.search(key) for key in holding)


def _client_error(code: str):
    from botocore.exceptions import ClientError

    return ClientError({"Error": {"Code": code, "Message": "m"}}, "GetObject")


@pytest.mark.parametrize(("code", "said"), [
    ("AccessDenied", "access denied"), ("InvalidAccessKeyId", "access key is not known"),
    ("SignatureDoesNotMatch", "secret key does not match"), ("NoSuchBucket", "no such bucket"),
    ("NoSuchKey", "no such key"),
])
def test_errors_a_retry_cannot_fix_are_permanent_and_name_the_bucket(code, said):
    failed = explain(_client_error(code), "bkt", "in/x.csv")
    assert failed.permanent and is_permanent(failed)
    assert said in str(failed) and "s3://bkt/in/x.csv" in str(failed)


def test_throttling_and_resets_are_not_permanent():
    from botocore.exceptions import ConnectionClosedError, EndpointConnectionError

    assert not explain(_client_error("SlowDown"), "bkt").permanent
    assert not explain(ConnectionClosedError(endpoint_url="http://h"), "bkt").permanent
    unreachable = explain(EndpointConnectionError(endpoint_url="http://h:1"), "bkt")
    assert unreachable.permanent and "bkt" in str(unreachable) and "http://h:1" in str(unreachable)
    assert not is_permanent(S3Failed("S3 error on bucket 'bkt': SlowDown", permanent=False))


class _Flaky(BaseHTTPRequestHandler):
    """Answers SlowDown (503) twice, drops the next connection, then serves the object."""

    script: ClassVar[list[str]] = []
    seen = 0

    def do_GET(self):
        type(self).seen += 1
        step = self.script.pop(0) if self.script else "ok"
        if step == "reset":
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if step == "slowdown":
            body = b"<Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>"
            self.send_response(503)
        else:
            body = b"hello"
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args):
        pass


def test_throttling_and_a_dropped_connection_are_retried_with_backoff():
    _Flaky.script, _Flaky.seen = ["slowdown", "slowdown", "reset"], 0
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        client = s3_client({"aws_access_key_id": "A", "aws_secret_access_key": "S", "region": "us-east-1",
                            "endpoint_url": f"http://127.0.0.1:{server.server_address[1]}"},
                           allow_server=False, server_endpoint=None)
        assert client.get_object(Bucket="bkt", Key="k")["Body"].read() == b"hello"
        assert _Flaky.seen == 4
    finally:
        server.shutdown()
        server.server_close()


def test_clients_share_the_service_model_but_not_their_credentials():
    """Each attempt's client loads S3's model once per process, not once per attempt, and keeps
    the keys it was given."""
    def client(key: str):
        return s3_client({"aws_access_key_id": key, "aws_secret_access_key": "S", "region": "us-east-1",
                          "endpoint_url": "http://127.0.0.1:9"}, allow_server=False, server_endpoint=None)

    alice, bob = client("ALICE"), client("BOB")
    assert alice._loader is bob._loader
    assert alice.meta.service_model is not None
    assert alice._request_signer._credentials.access_key == "ALICE"
    assert bob._request_signer._credentials.access_key == "BOB"


def test_no_credentials_and_no_server_fallback_is_refused():
    with pytest.raises(S3Failed, match="no S3 credentials") as info:
        s3_client({}, allow_server=False, server_endpoint=None)
    assert info.value.permanent


def test_spark_jars_from_the_environment(monkeypatch):
    from stoker.config import Settings

    monkeypatch.setenv("STOKER_SPARK_JARS", "/opt/jars/hadoop-aws.jar,/opt/jars/bundle.jar")
    assert Settings.from_env().spark_conf == {"spark.jars": "/opt/jars/hadoop-aws.jar,/opt/jars/bundle.jar"}
    monkeypatch.delenv("STOKER_SPARK_JARS")
    assert Settings.from_env().spark_conf == {}
