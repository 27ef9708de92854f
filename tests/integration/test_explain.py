"""`POST /api/v1/runs/explain` (issue 30): a pipeline checked by Spark's analyser against schemas
known without reading the data — a column typo over a known file is refused naming the step, the
column and Spark's suggestion, and nothing is queued; a good one answers each step's schema and
Spark's plan."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN
from stoker.app import Background, create_app
from stoker.catalog import RunContext

pytestmark = pytest.mark.spark

PEOPLE = "name,age,city\nana,34,Lisbon\nbo,28,Oslo\ncy,41,Lisbon\n"
READ = ["read_csv", "people.csv", {"header": True, "inferSchema": True}]


@pytest.fixture
def client(services, spark):  # the shared SparkSession: explanations run on the process's session
    root = services.roots.storage_root
    (root / "people.csv").write_text(PEOPLE)
    pq.write_table(pa.table({"id": [1, 2], "amount": [3.5, 4.0]}), root / "sales.parquet")
    app = create_app(services, background=Background(services, embedded_worker=False))
    with app.state.explain_spark():  # up, as after the process's first explanation or checked submit
        pass
    with TestClient(app, headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}) as c:
        yield c


def schema_of(step: dict) -> list[tuple[str, str]]:
    return [(f["name"], f["type"]) for f in step["schema"]]


def test_a_column_typo_over_a_known_file_is_refused_and_nothing_is_queued(client):
    answer = client.post("/api/v1/runs/explain", json={"steps": [READ, ["filter", "agee > 30"], ["count"]]})
    assert answer.status_code == 422, answer.text
    [problem] = answer.json()["problems"]
    assert (problem["step"], problem["function"], problem["column"]) == (1, "filter", "agee")
    assert "age" in problem["suggestion"] and "UNRESOLVED_COLUMN" in problem["error_class"]
    assert "agee" in problem["message"] and "JVM" not in problem["message"]
    assert client.get("/api/v1/runs").json()["runs"] == []  # nothing queued


def test_each_steps_schema_and_sparks_plan(client):
    steps = [READ, ["filter", "age > 30"], ["group_by", ["city"], {"people": "count(*)", "avg_age": "avg(age)"}],
             ["collect"]]
    answer = client.post("/api/v1/runs/explain", json={"steps": steps})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    read, kept, grouped, collect = body["steps"]
    assert schema_of(read) == [("name", "string"), ("age", "bigint"), ("city", "string")]
    assert read["schema_from"].startswith("a sample of people.csv")
    assert schema_of(kept) == schema_of(read)
    assert schema_of(grouped) == [("city", "string"), ("people", "bigint"), ("avg_age", "double")]
    assert collect["schema"] is None and collect["note"] == "runs when the run runs"
    assert "Scan csv" in body["plan"] and "HashAggregate" in body["plan"] and body["queued"] is False
    assert client.get("/api/v1/runs").json()["runs"] == []


def test_the_schema_cache_gives_sparks_own_types_after_a_run(client, services, spark):
    steps = [READ, ["count"]]
    services.catalog.execute(steps, RunContext(spark=spark.newSession, roots=services.roots))  # a run read it
    [read, _] = client.post("/api/v1/runs/explain", json={"steps": steps}).json()["steps"]
    assert read["schema_from"].startswith("the schema cache")
    assert schema_of(read) == [("name", "string"), ("age", "int"), ("city", "string")]  # Spark's inference


def test_parquet_footers_and_an_unknown_column_in_a_select(client):
    ok = client.post("/api/v1/runs/explain", json={"steps": [["read_parquet", "sales.parquet"], ["count"]]})
    assert ok.status_code == 200 and schema_of(ok.json()["steps"][0]) == [("id", "bigint"), ("amount", "double")]
    assert ok.json()["steps"][0]["schema_from"] == "the Parquet footers"
    bad = client.post("/api/v1/runs/explain", json={"steps": [["read_parquet", "sales.parquet"],
                                                               ["select", "id", "amout"], ["collect"]]})
    assert bad.status_code == 422
    [problem] = bad.json()["problems"]
    assert problem["step"] == 1 and problem["column"] == "amout" and "amount" in problem["suggestion"]


def test_a_jobs_steps_with_its_params_and_bad_requests(client):
    made = client.post("/api/v1/jobs", json={"name": "adults", "steps": [
        READ, ["filter", "{{column}} > 30"], ["count"]]})
    assert made.status_code == 201, made.text
    good = client.post("/api/v1/runs/explain", json={"job": "adults", "params": {"column": "age"}})
    assert good.status_code == 200, good.text
    typo = client.post("/api/v1/runs/explain", json={"job": "adults", "params": {"column": "agge"}})
    assert typo.status_code == 422 and typo.json()["problems"][0]["column"] == "agge"
    assert client.post("/api/v1/runs/explain", json={"job": "nope"}).status_code == 404
    both = client.post("/api/v1/runs/explain", json={"job": "adults", "steps": [READ, ["count"]]})
    assert both.status_code == 400 or both.status_code == 422
    unknown = client.post("/api/v1/runs/explain", json={"steps": [["read_csv", "missing.csv"], ["count"]]})
    assert unknown.status_code == 422 and unknown.json()["problems"][0]["step"] == 0
    catalog = client.post("/api/v1/runs/explain", json={"steps": [READ, ["filtr", "x"], ["count"]]})
    assert catalog.status_code == 422 and "did you mean 'filter'" in catalog.text
    outside = client.post("/api/v1/runs/explain", json={"steps": [["read_csv", "/etc/passwd"], ["count"]]})
    assert outside.status_code == 400


def test_an_s3_input_not_seen_yet_leaves_the_rest_unchecked(client):
    answer = client.post("/api/v1/runs/explain", json={"steps": [
        ["read_csv", "s3://bucket/in.csv", {"header": True}], ["filter", "anything > 1"], ["count"]]})
    assert answer.status_code == 200, answer.text
    first, second, _ = answer.json()["steps"]
    assert first["schema"] is None and "S3" in first["note"]
    assert second["note"].startswith("not checked") and answer.json()["plan"] is None


def test_the_job_forms_check_button_shows_schemas_or_the_refused_column(client):
    from ui.test_ui_pages import sign_in

    browser = TestClient(client.app, follow_redirects=False)  # the app is started by `client`
    csrf = sign_in(browser)
    form = {"csrf_token": csrf, "name": "checked", "description": "", "max_attempts": "3", "existing": "",
            "action": "check"}
    steps = '[["read_csv", "people.csv", {"header": true, "inferSchema": true}], ["filter", "age > 30"], ["count"]]'
    good = browser.post("/ui/jobs", data={**form, "steps": steps})
    assert good.status_code == 200 and 'id="check-result"' in good.text
    assert "<code>age bigint</code>" in good.text and 'id="check-plan"' in good.text
    bad = browser.post("/ui/jobs", data={**form, "steps": '[["read_csv", "people.csv", {"header": true}], '
                                                           '["filter", "agee > 30"], ["count"]]'})
    assert bad.status_code == 422 and 'id="step-problems"' in bad.text
    assert "column <code>agee</code>; did you mean <code>age</code>" in bad.text
    assert client.get("/api/v1/jobs/checked").status_code == 404  # checking saves nothing


# ---- the same check at submit: a column typo over a known file is refused, nothing queued ------
def queued(client) -> list[str]:
    return [run["id"] for run in client.get("/api/v1/runs", params={"limit": 100}).json()["runs"]]


def test_a_submit_with_a_column_typo_over_a_known_file_is_refused_and_queues_nothing(client):
    before = client.get("/api/v1/runs").json()
    refused = client.post("/api/v1/runs", json={"steps": [READ, ["filter", "agee > 30"], ["count"]]})
    assert refused.status_code == 422, refused.text
    [problem] = refused.json()["problems"]
    assert (problem["step"], problem["function"], problem["column"]) == (1, "filter", "agee")
    assert "age" in problem["suggestion"] and "agee" in refused.json()["detail"]
    parquet = client.post("/api/v1/runs", json={"steps": [["read_parquet", "sales.parquet"],
                                                          ["select", "id", "amout"], ["collect"]]})
    assert parquet.status_code == 422 and parquet.json()["problems"][0]["column"] == "amout"
    speedy = client.post("/jobs/submit", json={"steps": [READ, ["select", "nmae"], ["collect"]]})  # a seed API's
    assert speedy.status_code == 422 and "nmae" in speedy.text
    assert client.get("/api/v1/runs").json() == before  # nothing queued, nothing changed
    good = client.post("/api/v1/runs", json={"steps": [READ, ["filter", "age > 30"], ["count"]]})
    assert good.status_code == 201 and queued(client) == [good.json()["id"]]


def test_a_jobs_run_is_checked_with_its_params(client):
    made = client.post("/api/v1/jobs", json={"name": "adults", "steps": [READ, ["filter", "{{column}} > 30"],
                                                                        ["count"]]})
    assert made.status_code == 201, made.text
    typo = client.post("/api/v1/jobs/adults/runs", json={"params": {"column": "agge"}})
    assert typo.status_code == 422 and typo.json()["problems"][0]["column"] == "agge", typo.text
    assert queued(client) == []
    good = client.post("/api/v1/jobs/adults/runs", json={"params": {"column": "age"}})
    assert good.status_code == 201, good.text


def test_a_submit_whose_schema_is_not_known_without_running_is_queued_as_before(client):
    """A file not there yet (it may be written before the run starts) and an S3 input no run has
    read: nothing to check against, so the typo is the run's to report."""
    later = client.post("/api/v1/runs", json={"steps": [["read_csv", "later.csv", {"header": True}],
                                                        ["filter", "agee > 30"], ["count"]]})
    assert later.status_code == 201, later.text
    s3 = client.post("/api/v1/runs", json={"steps": [["read_csv", "s3://bucket/in.csv", {"header": True}],
                                                     ["filter", "agee > 30"], ["count"]],
                                           "options": {"s3": {"aws_access_key_id": "AKIAEXAMPLE",
                                                              "aws_secret_access_key": "secret-example"}}})
    assert s3.status_code == 201, s3.text
    assert len(queued(client)) == 2


def test_a_pipeline_submitted_again_over_unchanged_files_is_not_analysed_again(client, services, monkeypatch):
    from stoker.catalog import submit_check

    analysed = []
    real = submit_check.explain
    monkeypatch.setattr(submit_check, "explain", lambda *a: analysed.append(1) or real(*a))
    steps = [READ, ["filter", "age > 30"], ["count"]]
    for _ in range(3):
        assert client.post("/api/v1/runs", json={"steps": steps}).status_code == 201
    assert len(analysed) == 1
    # The file changes (its `age` column renamed): the same pipeline is analysed again, and refused.
    (services.roots.storage_root / "people.csv").write_text(PEOPLE.replace("age", "years") + "dd,50,Oslo\n")
    refused = client.post("/api/v1/runs", json={"steps": steps})
    assert refused.status_code == 422 and refused.json()["problems"][0]["column"] == "age", refused.text
    assert len(analysed) == 2
