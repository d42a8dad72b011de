"""The dashboard as code (ops/dashboards): every chart reads a metric that exists (ours in
ops/metrics, or a built-in one), by labels it has, with an aggregation its kind allows; the
tiles fit the grid; and `python -m ops.apply` creates it, or updates it on the etag it read.
That the metrics match real log lines is tests/ops/test_alerts.py's (it runs last)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from ops import apply as ops_apply
from tests.ops.dashboards import (
    USER_METRIC,
    dashboards,
    data_sets,
    metric_name,
    tile_cells,
    widgets,
)

ROOT = Path(__file__).resolve().parents[2]
# Built-in metrics a chart may read without a file in ops/metrics.
_BUILT_IN_DOMAINS = ("run.googleapis.com/", "firestore.googleapis.com/")
_PERCENTILES = {f"REDUCE_PERCENTILE_{p}" for p in ("05", "50", "95", "99")}


def _metrics() -> dict[str, dict[str, Any]]:
    return {path.stem: ops_apply.load(path) for path in ops_apply.metric_files()}


def test_there_is_the_live_diary_dashboard() -> None:
    found = dashboards()
    assert list(found) == ["keyloop-live-diary"]
    for dashboard in found.values():
        assert dashboard["displayName"].startswith("ViSN Keyloop: ")
        assert "name" not in dashboard  # apply sets it
        assert "etag" not in dashboard


def test_every_chart_reads_a_metric_that_exists_by_labels_it_has() -> None:
    metrics = _metrics()
    sets = data_sets()
    assert len(sets) >= 12
    for d in sets:
        where = f"{d.dashboard}: {d.title}"
        if not d.metric.startswith(USER_METRIC):
            assert d.metric.startswith(_BUILT_IN_DOMAINS), f"{where}: {d.metric}"
            continue
        name = metric_name(d, set(metrics))
        assert name in metrics, f"{where}: no ops/metrics/{name}.yaml"
        metric = metrics[name]
        distribution = metric["metricDescriptor"]["valueType"] == "DISTRIBUTION"
        labels = {label["key"] for label in metric["metricDescriptor"].get("labels", [])}
        used = {*d.grouped_by, *(key for key, _, _ in d.selected)} - {"monitored_resource"}
        assert used <= labels, f"{where}: {name} has no label {used - labels}"
        if d.promql_suffix is not None:
            assert distribution, f"{where}: {d.promql_suffix} of {name}, not a distribution"
        if d.reducer in _PERCENTILES or d.aligner == "ALIGN_DELTA":
            assert distribution, f"{where}: percentiles of {name}, not a distribution"
        if not distribution and d.promql_suffix is None:
            assert (d.aligner, d.reducer) in {
                ("ALIGN_SUM", "REDUCE_SUM"),
                ("ALIGN_RATE", "REDUCE_SUM"),
            }, where


def test_the_issue_s_charts_are_there() -> None:
    """Bookings and cancels by outcome and reason, callable latency p50/p95 by callable,
    Keyloop latency by operation and its error rate, the cache hit rate, events, the sync's
    lag, and what waits: each read from the metric meant for it."""
    read = {(metric_name(d, set(_metrics())), d.reducer, d.grouped_by) for d in data_sets()}
    for callable_latency in ("REDUCE_PERCENTILE_50", "REDUCE_PERCENTILE_95"):
        assert ("visn_callable_total_ms", callable_latency, ("callable",)) in read
        assert ("visn_keyloop_call_ms", callable_latency, ("operation",)) in read
    assert ("visn_callables", "REDUCE_SUM", ("outcome", "reason")) in read
    names = {name for name, _, _ in read}
    assert {
        "visn_keyloop_call_ms",
        "visn_availability_cache_hits",
        "visn_availability_cache_misses",
        "visn_keyloop_events",
        "visn_dms_sync_lag_s",
        "visn_reconciler_owed_cancels",
        "visn_reconciler_outcomes_unknown",
    } <= names
    selected = {(d.title, v) for d in data_sets() for k, _, v in d.selected if k == "callable"}
    assert {v for _, v in selected} == {"createBooking", "rearrangeBooking", "cancelBooking"}


def test_tiles_fit_the_grid_without_overlapping() -> None:
    for name, dashboard in dashboards().items():
        layout = dashboard["mosaicLayout"]
        taken: set[tuple[int, int]] = set()
        for tile in layout["tiles"]:
            assert tile.get("xPos", 0) + tile["width"] <= layout["columns"], (name, tile)
            cells = tile_cells(tile)
            assert not cells & taken, f"{name}: {tile['widget']['title']} overlaps"
            taken |= cells
        assert all(w["title"].strip() for w in widgets(dashboard))


# -- applying it -------------------------------------------------------------------------------


def _fake_gcloud(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, *, exists: bool) -> Path:
    """A `gcloud` on PATH (a shell script: the apply runs ~45 commands) that records each
    command and a copy of the file it was given, and answers the look-ups as a project where
    everything already exists (or nothing does)."""
    calls = tmp_path / "calls"
    calls.mkdir()
    script = tmp_path / "bin" / "gcloud"
    script.parent.mkdir()
    answers = (
        """case "$*" in
  *"monitoring dashboards describe"*) echo etag-42 ;;
  *"policies list"*) echo projects/visn-x/alertPolicies/7 ;;
  *"metrics describe"*) echo "name: metric" ;;
esac"""
        if exists
        else """case "$*" in *describe*|*" list "*) exit 1 ;; esac"""
    )
    script.write_text(
        f"""#!/bin/sh
n=$(ls {calls} | grep -c args)
printf '%s\\n' "$@" > {calls}/$n.args
for a in "$@"; do
  case "$a" in --config-from-file=*|--policy-from-file=*) cp "${{a#*=}}" {calls}/$n.file ;; esac
done
{answers}
"""
    )
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ['PATH']}")
    return calls


def _calls(calls: Path) -> list[dict[str, Any]]:
    found = []
    for n in range(len(list(calls.glob("*.args")))):
        file = calls / f"{n}.file"
        found.append(
            {
                "args": (calls / f"{n}.args").read_text().splitlines(),
                "file": file.read_text() if file.exists() else None,
            }
        )
    return found


def _dashboard_calls(calls: Path) -> list[dict[str, Any]]:
    return [c for c in _calls(calls) if c["args"][:2] == ["monitoring", "dashboards"]]


def test_apply_creates_the_dashboard_under_its_own_id(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _fake_gcloud(tmp_path, monkeypatch, exists=False)
    assert ops_apply.main(["--project", "visn-x"]) == 0
    describe, create = _dashboard_calls(log)
    name = "projects/visn-x/dashboards/keyloop-live-diary"
    assert describe["args"][:4] == ["monitoring", "dashboards", "describe", name]
    assert create["args"][:3] == ["monitoring", "dashboards", "create"]
    sent = json.loads(create["file"])
    assert sent == {**ops_apply.load(ops_apply.dashboard_files()[0]), "name": name}
    assert capsys.readouterr().out.splitlines()[-1] == (
        "gcloud monitoring dashboards create '--config-from-file="
        f"{ROOT / 'ops/dashboards/keyloop-live-diary.yaml'} (+ name, etag)' --project visn-x"
    )


def test_apply_again_updates_it_on_the_etag_it_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = _fake_gcloud(tmp_path, monkeypatch, exists=True)
    assert ops_apply.main(["--project", "visn-x"]) == 0
    _, update = _dashboard_calls(log)
    name = "projects/visn-x/dashboards/keyloop-live-diary"
    assert update["args"][:4] == ["monitoring", "dashboards", "update", name]
    sent = json.loads(update["file"])
    assert sent == {
        **ops_apply.load(ops_apply.dashboard_files()[0]),
        "name": name,
        "etag": "etag-42",
    }
    # The metrics and policies are updated in place too: nothing is created twice.
    assert not [c for c in _calls(log) if "create" in c["args"]]
