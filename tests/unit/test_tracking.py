"""When jobs are tracked: the switch, and what is missing without the mlflow extra."""

from __future__ import annotations

import importlib.util

import pytest

from batchml.mlflow import tracking


def test_the_packages_the_store_needs_are_named_when_missing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("BATCHML_TRACKING", raising=False)
    present = importlib.util.find_spec
    gone = {"sqlalchemy", "alembic"}
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name in gone else present(name)
    )
    assert tracking.unavailable() == (
        "MLflow tracking is off: sqlalchemy, alembic are not installed here "
        "(pip install 'batchml[mlflow]')"
    )
    gone = {"mlflow"}
    assert tracking.unavailable() == (
        "MLflow tracking is off: mlflow is not installed here (pip install 'batchml[mlflow]')"
    )


@pytest.mark.parametrize("value", ["off", "0", "false", "OFF"])
def test_the_switch_turns_tracking_off(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("BATCHML_TRACKING", value)
    assert tracking.unavailable() == f"MLflow tracking is off (BATCHML_TRACKING={value})"
