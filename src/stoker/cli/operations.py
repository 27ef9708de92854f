"""Which command covers each operation of the native API (`/api/v1`, `/healthz`, `/metrics`,
`/collect`), by OpenAPI operationId. tests/unit/test_cli_parity.py walks the OpenAPI document and
fails both ways: an operation without a command here, or a command here that the CLI lacks (or
that has no --json). A new route needs its line (and its command). The seed APIs (compat/) have
their own clients and are not the CLI's."""

from __future__ import annotations


def is_native(path: str) -> bool:
    """A route of the native API (not of a seed API: /collector/… is Delight's agent protocol)."""
    return path.startswith("/api/v1/") or path in ("/healthz", "/metrics", "/collect")


COMMAND_OF: dict[str, str] = {
    # teams, tokens and the audit log (cli/access.py)
    "me_api_v1_me_get": "me",
    "list_teams_api_v1_teams_get": "teams list",
    "create_team_api_v1_teams_post": "teams create",
    "get_team_api_v1_teams__team__get": "teams show",
    "set_quotas_api_v1_teams__team__quotas_put": "teams quotas",
    "list_members_api_v1_teams__team__members_get": "teams members",
    "set_member_api_v1_teams__team__members__user__put": "teams set-member",
    "remove_member_api_v1_teams__team__members__user__delete": "teams remove-member",
    "list_tokens_api_v1_tokens_get": "tokens list",
    "create_token_api_v1_tokens_post": "tokens create",
    "revoke_token_api_v1_tokens__token_id__delete": "tokens revoke",
    "audit_api_v1_audit_get": "audit",
    # runs and batches
    "submit_run_api_v1_runs_post": "submit",
    "list_runs_api_v1_runs_get": "runs list",
    "get_run_api_v1_runs__run_id__get": "runs show",
    "cancel_run_api_v1_runs__run_id__cancel_post": "runs cancel",
    "retry_run_api_v1_runs__run_id__retry_post": "runs retry",
    "run_result_api_v1_runs__run_id__result_get": "runs result",
    "get_attempt_api_v1_runs__run_id__attempts__number__get": "runs attempt",
    "run_log_api_v1_runs__run_id__log_get": "runs log",
    "run_spark_api_v1_runs__run_id__spark_get": "runs spark",
    "run_progress_route_api_v1_runs__run_id__progress_get": "runs progress",
    "explain_run_api_v1_runs_explain_post": "submit",  # with --explain
    "list_dead_letters_api_v1_dead_letters_get": "dead-letters",
    "submit_batch_api_v1_batches_post": "batches submit",
    "get_batch_api_v1_batches__batch_id__get": "batches show",
    "list_functions_api_v1_functions_get": "functions",
    # jobs and schedules
    "list_jobs_api_v1_jobs_get": "jobs list",
    "create_job_api_v1_jobs_post": "jobs create",
    "get_job_api_v1_jobs__job__get": "jobs show",
    "update_job_api_v1_jobs__job__patch": "jobs update",
    "job_notifications_api_v1_jobs__job__notifications_get": "jobs notifications",
    "submit_job_run_api_v1_jobs__job__runs_post": "jobs run",
    "list_job_runs_api_v1_jobs__job__runs_get": "jobs runs",
    "pause_api_v1_jobs__job__schedule_pause_post": "jobs pause",
    "resume_api_v1_jobs__job__schedule_resume_post": "jobs resume",
    "ticks_api_v1_jobs__job__ticks_get": "jobs ticks",
    "backfill_api_v1_jobs__job__backfill_post": "jobs backfill",
    "get_tuning_api_v1_jobs__job__tuning_get": "tuning show",
    # the worker protocol is what `stoker worker --remote` speaks; /collect is `events import --url`'s
    "claim_api_v1_worker_claim_post": "worker",
    "finish_many_api_v1_worker_finish_post": "worker",
    "annotate_api_v1_attempts__attempt_id__annotate_post": "worker",
    "heartbeat_api_v1_attempts__attempt_id__heartbeat_post": "worker",
    "finish_api_v1_attempts__attempt_id__finish_post": "worker",
    "collect_collect_post": "events import",
    # Spark apps and run events
    "list_jobs_api_v1_spark_jobs_get": "apps jobs",
    "list_runs_api_v1_spark_jobs__job_name__runs_get": "apps list",
    "run_events_api_v1_spark_jobs__job_name__runs__run_id__events_get": "apps events",
    "run_duration_api_v1_spark_jobs__job_name__runs__run_id__duration_get": "apps duration",
    "run_summary_api_v1_spark_jobs__job_name__runs__run_id__summary_get": "apps summary",
    "stream_events_api_v1_events_stream_get": "events stream",
    # clusters and products
    "list_products_api_v1_products_get": "products list",
    "create_product_api_v1_products_post": "products create",
    "get_product_api_v1_products__name___version__get": "products show",
    "put_template_api_v1_products__name___version__template_put": "products template",
    "put_options_api_v1_products__name___version__options_put": "products options",
    "put_orchestrator_api_v1_products__name___version__orchestrator_put": "products orchestrator",
    "launch_api_v1_products__name___version__clusters_post": "clusters launch",
    "cluster_duties_api_v1_cluster_duties_get": "clusters duties",
    "list_clusters_api_v1_clusters_get": "clusters list",
    "get_cluster_api_v1_clusters__cluster_id__get": "clusters show",
    "destroy_api_v1_clusters__cluster_id__delete": "clusters destroy",
    "cluster_nodes_api_v1_clusters__cluster_id__nodes_get": "clusters nodes",
    "repair_api_v1_clusters__cluster_id__repair_post": "clusters repair",
    # webhooks, secrets, files, operations
    "list_webhooks_api_v1_webhooks_get": "webhooks list",
    "create_webhook_api_v1_webhooks_post": "webhooks create",
    "get_webhook_api_v1_webhooks__webhook_id__get": "webhooks show",
    "delete_webhook_api_v1_webhooks__webhook_id__delete": "webhooks delete",
    "list_secrets_api_v1_secrets_get": "secrets list",
    "create_secret_api_v1_secrets_post": "secrets set",
    "get_secret_api_v1_secrets__name__get": "secrets show",
    "update_secret_api_v1_secrets__name__put": "secrets set",
    "delete_secret_api_v1_secrets__name__delete": "secrets delete",
    "list_files_api_v1_files_get": "files ls",
    "preview_file_api_v1_files__path__preview_get": "files preview",
    "download_file_api_v1_files__path__get": "files get",
    "put_file_api_v1_files__path__put": "files put",
    "delete_file_api_v1_files__path__delete": "files rm",
    "list_hosts_api_v1_hosts_get": "hosts list",
    "register_host_api_v1_hosts_post": "hosts add",
    "get_host_api_v1_hosts__name__get": "hosts show",
    "remove_host_api_v1_hosts__name__delete": "hosts remove",
    "drain_host_api_v1_hosts__name__drain_post": "hosts drain",
    "undrain_host_api_v1_hosts__name__undrain_post": "hosts undrain",
    "healthz_healthz_get": "health",
    "metrics_metrics_get": "metrics",
}

# Operations whose client-side command is not built yet, each with why; the parity test accepts
# them and fails when an entry is stale (mapped above, or gone from the API): the list only shrinks.
# Empty: every operation has its command.
PENDING: dict[str, str] = {}

# Commands that speak a protocol rather than show an answer: no --json (a worker runs until stopped).
NO_JSON = {"worker"}
