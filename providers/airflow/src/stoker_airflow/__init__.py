"""Apache Airflow provider for Stoker (see README.md)."""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"


def get_provider_info() -> dict[str, Any]:
    """What Airflow's providers manager reads (the `apache_airflow_provider` entry point)."""
    return {
        "package-name": "stoker-airflow",
        "name": "Stoker",
        "description": "Run Stoker pipelines and jobs from Airflow: submit, wait (deferrable), sense, cancel.",
        "versions": [__version__],
        "connection-types": [
            {"hook-class-name": "stoker_airflow.hooks.StokerHook", "connection-type": "stoker"},
        ],
        "extra-links": ["stoker_airflow.operators.StokerRunLink"],
        "operators": [{"integration-name": "Stoker", "python-modules": ["stoker_airflow.operators"]}],
        "sensors": [{"integration-name": "Stoker", "python-modules": ["stoker_airflow.sensors"]}],
        "triggers": [{"integration-name": "Stoker", "python-modules": ["stoker_airflow.triggers"]}],
        "hooks": [{"integration-name": "Stoker", "python-modules": ["stoker_airflow.hooks"]}],
        "integrations": [{"integration-name": "Stoker", "external-doc-url": "https://github.com/"}],
    }
