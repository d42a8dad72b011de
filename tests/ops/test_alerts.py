"""Alerts as code (ops/): every log-based metric's filter names a log event and fields our code
really writes, taken from the structured log lines this test session captured
(tests/logcapture.py) rather than from a list kept by hand; every alert policy counts a metric
that exists, by labels it has. The check against captured lines runs after every other test.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ops import apply as ops_apply
from tests.logcapture import captured
from tests.ops.dashboards import dashboard_metrics, data_sets, metric_name

ROOT = Path(__file__).resolve().parents[2]

_SEVERITIES = ["DEFAULT", "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR", "CRITICAL", "ALERT"]
_TERM = re.compile(
    r"^(?P<field>[A-Za-z_][\w.]*)\s*(?P<op>=~|>=|=|:)\s*"
    r'(?P<value>"[^"]*"|\(\s*"[^"]*"(?:\s+OR\s+"[^"]*")*\s*\)|[A-Z]+|\*)$'
)
_USER_METRIC = "logging.googleapis.com/user/"


@dataclass(frozen=True)
class Term:
    field: str
    op: str
    values: tuple[str, ...]

    def matches(self, line: dict[str, Any]) -> bool:
        if self.field == "severity":
            have = _SEVERITIES.index(str(line.get("severity", "DEFAULT")))
            want = _SEVERITIES.index(self.values[0])
            return have >= want if self.op == ">=" else have == want
        key = self.field.removeprefix("jsonPayload.")
        if key not in line:
            return False
        if self.op == ":":  # `field:*`: present (a JSON null is present too)
            return True
        value = render(line[key])
        if self.op == "=~":
            return re.search(self.values[0], value) is not None
        return value in self.values


def render(value: Any) -> str:
    """A JSON value as Cloud Logging compares it with a quoted literal."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def parse(filter_text: str) -> list[Term]:
    """The subset of the Logging query language our files use: terms joined by AND, each
    `field = "v"`, `field = ("a" OR "b")`, `field =~ "regex"`, `field:*` (present) or
    `severity >= LEVEL`."""
    terms = []
    for part in re.split(r"\s+AND\s+", filter_text.strip()):
        match = _TERM.match(part.strip())
        assert match, f"not in the subset this test reads: {part!r}"
        raw = match["value"]
        values = tuple(re.findall(r'"([^"]*)"', raw)) if '"' in raw else (raw,)
        terms.append(Term(match["field"], match["op"], values))
    return terms


def metrics() -> dict[str, dict[str, Any]]:
    return {path.stem: ops_apply.load(path) for path in ops_apply.metric_files()}


def policies() -> dict[str, dict[str, Any]]:
    return {path.stem: ops_apply.load(path) for path in ops_apply.policy_files()}


def _conditions(policy: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    for condition in policy["conditions"]:
        (kind,) = [k for k in condition if k.startswith("condition")]
        found.append(condition[kind])
    return found


def _deployed_services() -> set[str]:
    """Cloud Run service names of our functions: the function ids, lower-cased."""
    import main

    return {
        name.lower() for name in dir(main) if hasattr(getattr(main, name), "__firebase_endpoint__")
    }


def extracted(extractor: str) -> str:
    """The payload field an `EXTRACT(jsonPayload.FIELD)` reads."""
    match = re.fullmatch(r"EXTRACT\(jsonPayload\.(\w+)\)", extractor)
    assert match, f"extractor not of jsonPayload: {extractor}"
    return match[1]


def _payload_fields(metric: dict[str, Any]) -> set[str]:
    fields = {
        t.field.removeprefix("jsonPayload.")
        for t in parse(metric["filter"])
        if t.field.startswith("jsonPayload.")
    }
    fields.update(extracted(e) for e in metric.get("labelExtractors", {}).values())
    if "valueExtractor" in metric:
        fields.add(extracted(metric["valueExtractor"]))
    return fields


# -- the files alone ---------------------------------------------------------------------------


def test_every_metric_filters_our_functions_logs_by_an_event() -> None:
    services = _deployed_services()
    assert len(services) == 8  # the five callables, keyloopEvents and the two schedules
    found = metrics()
    assert found
    for name, metric in found.items():
        assert name.startswith("visn_"), name
        terms = parse(metric["filter"])
        assert Term("resource.type", "=", ("cloud_run_revision",)) in terms, name
        for term in terms:
            if term.field == "resource.labels.service_name":
                assert set(term.values) <= services, (name, term.values)
            else:
                assert term.field.startswith(("jsonPayload.", "severity", "resource.type")), term
        assert any(t.field == "jsonPayload.message" for t in terms), f"{name}: no event"
        declared = {label["key"] for label in metric["metricDescriptor"].get("labels", [])}
        assert declared == set(metric.get("labelExtractors", {})), name
        assert metric["metricDescriptor"]["metricKind"] == "DELTA"
        distribution = metric["metricDescriptor"]["valueType"] == "DISTRIBUTION"
        assert distribution == ("valueExtractor" in metric) == ("bucketOptions" in metric), name


def test_every_policy_counts_an_existing_metric_by_its_labels() -> None:
    found = metrics()
    assert policies()
    counted = set()
    for name, policy in policies().items():
        assert policy["displayName"].startswith("ViSN Keyloop: "), name
        assert policy["documentation"]["content"].strip(), name
        for condition in _conditions(policy):
            terms = {t.field: t for t in parse(condition["filter"])}
            metric_type = terms.pop("metric.type").values[0]
            assert metric_type.startswith(_USER_METRIC), name
            metric = metric_type.removeprefix(_USER_METRIC)
            assert metric in found, f"{name}: no ops/metrics/{metric}.yaml"
            counted.add(metric)
            assert terms.pop("resource.type").values == ("cloud_run_revision",)
            labels = set(found[metric].get("labelExtractors", {}))
            for field in terms:
                assert field.removeprefix("metric.label.") in labels, (name, field)
    counted |= dashboard_metrics()
    assert counted == set(found), f"metrics no policy or dashboard uses: {set(found) - counted}"


def test_apply_creates_each_metric_and_policy(capsys: pytest.CaptureFixture[str]) -> None:
    assert ops_apply.main(["--project", "visn-x", "--channel", "c1", "--dry-run"]) == 0
    commands = capsys.readouterr().out.splitlines()
    assert commands == [
        *(
            f"gcloud logging metrics create {name} --config-from-file="
            f"{ROOT / 'ops/metrics' / name}.yaml --project visn-x"
            for name in sorted(metrics())
        ),
        *(
            f"gcloud alpha monitoring policies create '--policy-from-file="
            f"{ROOT / 'ops/policies' / name}.yaml (+ channels)' --project visn-x"
            for name in sorted(policies())
        ),
        *(
            f"gcloud monitoring dashboards create '--config-from-file="
            f"{path} (+ name, etag)' --project visn-x"
            for path in ops_apply.dashboard_files()
        ),
    ]


# -- against the log lines the session captured (runs last) ------------------------------------


def test_every_metric_matches_log_lines_the_code_wrote() -> None:
    """Each metric's filter matches lines our code wrote in this session, and those lines carry
    every field the filter and the extractors read; each label extracts a value from some of
    them, a distribution's value is a number; each label value a policy or a dashboard chart
    selects was written. Needs the suites that produce the events in the same run
    (`make test`)."""
    lines = captured()
    found = metrics()
    missing: list[str] = []
    for name, metric in found.items():
        terms = [t for t in parse(metric["filter"]) if not t.field.startswith("resource.")]
        matching = [line for line in lines if all(t.matches(line) for t in terms)]
        if not matching:
            missing.append(f"{name}: no captured line matches {metric['filter']!r}")
            continue
        _check_extracted(name, metric, matching)
        for where, key, value in _selected_values(name, set(found)):
            field = extracted(metric["labelExtractors"][key])
            written = {render(line.get(field)) for line in matching}
            assert value in written, (where, key, value, written)
    assert not missing, "\n".join(
        [*missing, f"({len(lines)} lines captured: run with tests/faults and tests/functions)"]
    )


def _check_extracted(name: str, metric: dict[str, Any], matching: list[dict[str, Any]]) -> None:
    for field in _payload_fields(metric):
        assert all(field in line for line in matching), f"{name}: {field} not written"
    for key, extractor in metric.get("labelExtractors", {}).items():
        values = {line.get(extracted(extractor)) for line in matching} - {None, ""}
        assert values, f"{name}: label {key} extracts no value from any matching line"
    if "valueExtractor" in metric:
        field = extracted(metric["valueExtractor"])
        numbers = [line[field] for line in matching]
        assert all(_number(n) for n in numbers), f"{name}: {field} not a number"


def _selected_values(name: str, defined: set[str]) -> list[tuple[str, str, str]]:
    """(where, label key, value) for each label value a policy condition or a dashboard
    chart selects of metric `name`."""
    found = []
    for policy in policies().values():
        for condition in _conditions(policy):
            selected = {t.field: t for t in parse(condition["filter"])}
            if selected["metric.type"].values[0] != _USER_METRIC + name:
                continue
            for field, term in selected.items():
                if field.startswith("metric.label."):
                    key = field.removeprefix("metric.label.")
                    found += [(policy["displayName"], key, value) for value in term.values]
    for chart in data_sets():
        if metric_name(chart, defined) == name:
            found += [
                (chart.title, key, value)
                for key, op, value in chart.selected
                if key != "monitored_resource" and op in ("=", "!=")
            ]
    return found


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
