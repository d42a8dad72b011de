"""What the dashboards in ops/dashboards read: each chart's data sets, the metric each one
names (a Monitoring filter's `metric.type`, or a PromQL metric name) and the labels it uses."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from ops import apply as ops_apply

USER_METRIC = "logging.googleapis.com/user/"
_PROMQL_USER = re.compile(r"logging_googleapis_com:user_(\w+)")
_PROMQL_SUFFIXES = ("_count", "_sum", "_bucket")
_FILTER_LABEL = re.compile(r'metric\.labels?\.(\w+)\s*(!=|=)\s*"([^"]*)"')


@dataclass(frozen=True)
class DataSet:
    """One query of one chart: the metric it reads and how."""

    dashboard: str
    title: str
    metric: str  # a full metric type: logging.googleapis.com/user/NAME, or a built-in one
    promql_suffix: str | None  # _count, _sum, _bucket (PromQL on a distribution), or none
    grouped_by: tuple[str, ...]  # label keys
    selected: tuple[tuple[str, str, str], ...]  # (label key, operator, value)
    aligner: str | None
    reducer: str | None


def dashboards() -> dict[str, dict[str, Any]]:
    return {path.stem: ops_apply.load(path) for path in ops_apply.dashboard_files()}


def widgets(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [tile["widget"] for tile in dashboard["mosaicLayout"]["tiles"]]


def data_sets() -> list[DataSet]:
    found = []
    for name, dashboard in dashboards().items():
        for widget in widgets(dashboard):
            for data_set in widget.get("xyChart", {}).get("dataSets", []):
                found.extend(_read(name, widget["title"], data_set["timeSeriesQuery"]))
    return found


def dashboard_metrics() -> set[str]:
    """The ops/metrics names the dashboards read."""
    defined = {path.stem for path in ops_apply.metric_files()}
    return {metric_name(d, defined) for d in data_sets() if d.metric.startswith(USER_METRIC)}


def _read(dashboard: str, title: str, query: dict[str, Any]) -> list[DataSet]:
    if "prometheusQuery" in query:
        return _promql(dashboard, title, query["prometheusQuery"])
    (kind,) = query  # timeSeriesQueryLanguage (MQL) is not read here: not used
    assert kind == "timeSeriesFilter", f"{dashboard}: {title}: {kind} not read by this test"
    spec = query[kind]
    aggregation = spec.get("aggregation", {})
    (metric,) = re.findall(r'metric\.type\s*=\s*"([^"]+)"', spec["filter"])
    return [
        DataSet(
            dashboard,
            title,
            metric,
            None,
            tuple(f.removeprefix("metric.label.") for f in aggregation.get("groupByFields", [])),
            tuple(_FILTER_LABEL.findall(spec["filter"])),
            aggregation.get("perSeriesAligner"),
            aggregation.get("crossSeriesReducer"),
        )
    ]


def _promql(dashboard: str, title: str, text: str) -> list[DataSet]:
    found = []
    grouped = tuple(
        label.strip()
        for group in re.findall(r"by\s*\(([^)]*)\)", text)
        for label in group.split(",")
    )
    for match in re.finditer(_PROMQL_USER.pattern + r"(\{[^}]*\})?", text):
        name, matchers = match[1], match[2] or ""
        suffix = next((s for s in _PROMQL_SUFFIXES if name.endswith(s)), None)
        selected = tuple(re.findall(r'(\w+)\s*(!=|=~|!~|=)\s*"([^"]*)"', matchers))
        found.append(
            DataSet(dashboard, title, USER_METRIC + name, suffix, grouped, selected, None, None)
        )
    assert found, f"{dashboard}: {title}: no metric of ours in {text!r}"
    return found


def metric_name(data_set: DataSet, defined: set[str]) -> str:
    """The ops/metrics name a data set reads (a PromQL suffix taken off when the name
    without it is ours)."""
    name = data_set.metric.removeprefix(USER_METRIC)
    if data_set.promql_suffix and name.removesuffix(data_set.promql_suffix) in defined:
        return name.removesuffix(data_set.promql_suffix)
    return name


def tile_cells(tile: dict[str, Any]) -> set[tuple[int, int]]:
    x, y = tile.get("xPos", 0), tile.get("yPos", 0)
    return {(i, j) for i in range(x, x + tile["width"]) for j in range(y, y + tile["height"])}
