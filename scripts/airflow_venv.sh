#!/usr/bin/env bash
# The Airflow provider's test environment: Apache Airflow in its own virtualenv (.venv-airflow), kept
# out of Stoker's (their pins of SQLAlchemy, pydantic and others are not ours to follow), with the
# provider (providers/airflow) and Stoker's client installed into it without Stoker's server
# dependencies. tests/e2e/test_airflow_provider.py runs `airflow dags test` from it.
# Usage: scripts/airflow_venv.sh PYTHON   (idempotent: a stamp keyed on the pins skips a done install)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${1:-python3}
VENV=.venv-airflow
AIRFLOW_VERSION=3.3.2
STAMP="$VENV/.stamp-airflow-$AIRFLOW_VERSION-$(cat providers/airflow/pyproject.toml | sha1sum | cut -c1-12)"
[[ -f "$STAMP" ]] && exit 0
"$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet --upgrade pip
"$VENV/bin/pip" install --quiet "apache-airflow==$AIRFLOW_VERSION"
# Stoker's client needs httpx and pydantic only (Airflow brings both); the rest of Stoker stays out.
"$VENV/bin/pip" install --quiet --no-deps -e .
"$VENV/bin/pip" install --quiet -e providers/airflow
touch "$STAMP"
