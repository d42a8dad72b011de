"""Supplier onboarding, parse and check: a supplier file, whose live diary fields
visn/operator/onboarding_write.py writes into ViSN's supplier record
`{SUPPLIERS_COLLECTION}/{supplierId}` (default `suppliers`); visn/operator/onboarding_report.py
holds
the commands and what they print.

The file holds one supplier object or a JSON array of them (docs/suppliers.md):

    {"supplierId": "keyloop-leeds", "name": "Leeds Motors", "timezone": "Europe/London",
     "liveDiaryProvider": {"provider": "KEYLOOP", "groupMappingId": "ENT-1001", ...}}

The `liveDiaryProvider` block is checked with the model the functions read it with
(`visn.records.suppliers.LiveDiaryProviderConfig`, in strict mode), plus what an operator should
not get wrong even where the functions would tolerate it: ViSN's own service codes as keys,
a real IANA time zone, a true boolean, no field the functions would ignore. Every problem is
reported with its JSON path (`$[1].liveDiaryProvider.serviceTypeMapping.SERVCE`).

The record is ViSN's: an import replaces only `liveDiaryProvider` (and `timezone` when the
file has one), each as a whole, and leaves every other field of ViSN's as it was. `name` is
checked for the operator's benefit and never written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any
from zoneinfo import available_timezones

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from visn.records.suppliers import LiveDiaryProviderConfig

SUPPLIER_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
SERVICE_TYPES = ("SERVICE", "MOT", "REPAIR", "TYRE", "GLASS")
OPTIONAL_SERVICES = ("COLLECTION_AND_DELIVERY", "COURTESY_CAR", "WHILE_YOU_WAIT")
SUPPLIER_FIELDS = ("supplierId", "name", "locale", "timezone", "liveDiaryProvider")
# Without a timezone, the record's locale decides. `name` and `locale` are ViSN's: checked
# (a file may copy them from the record, for the reader), never written.
OPTIONAL_FIELDS = ("name", "locale", "timezone")
WRITTEN_FIELDS = ("timezone", "liveDiaryProvider")  # ours to write in ViSN's record
PROVIDER_FIELDS = tuple(LiveDiaryProviderConfig.model_fields)
ID_FIELDS = ("groupMappingId", "supplierMappingId", "enterpriseId", "storeId")
MAX_NAME_LENGTH = 200
MAX_SUPPLIERS = 500  # one Firestore batch: an import is all or nothing

KEYLOOP_ID_RULE = (
    "must be a Keyloop id: 1 to 128 letters, digits, '.', '_', ':' or '-', starting with a "
    "letter or digit, without '..'"
)
_GUID = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}")
_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})  # files in zoneinfo, not zones


@dataclass(frozen=True)
class Problem:
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


@dataclass(frozen=True)
class SupplierEntry:
    supplier_id: str
    document: dict[str, Any]  # our fields of the supplier record


@dataclass
class Report:
    entries: list[SupplierEntry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


# -- reading and checking ---------------------------------------------------------------------


def read_file(path: Path) -> Report:
    """Parse and check a supplier file; never raises for a bad file."""
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except OSError as exc:
        return Report(problems=[Problem("$", f"cannot read the file ({exc.strerror})")])
    except UnicodeDecodeError:
        return Report(problems=[Problem("$", "is not UTF-8 text")])
    try:
        payload = json.loads(text, object_pairs_hook=_JsonObject, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        return Report(
            problems=[
                Problem(
                    "$", f"is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
                )
            ]
        )
    except ValueError as exc:
        return Report(problems=[Problem("$", f"is not valid JSON: {exc}")])
    return check_payload(payload)


def check_payload(payload: Any) -> Report:
    """Check a parsed file: one supplier object, or an array of them."""
    report = Report(problems=list(_duplicate_keys(payload, "$")))
    if isinstance(payload, dict):
        items: list[tuple[str, Any]] = [("$", payload)]
    elif isinstance(payload, list):
        items = [(f"$[{i}]", item) for i, item in enumerate(payload)]
        if not items:
            report.problems.append(Problem("$", "is an empty array: no supplier to import"))
        elif len(items) > MAX_SUPPLIERS:
            report.problems.append(
                Problem(
                    "$",
                    f"holds {len(items)} suppliers; split it into files of at most {MAX_SUPPLIERS}",
                )
            )
    else:
        report.problems.append(Problem("$", "must be a supplier object or an array of them"))
        items = []
    first_seen: dict[str, str] = {}
    for path, item in items:
        entry = check_supplier(item, path, report)
        supplier_id = item.get("supplierId") if isinstance(item, dict) else None
        if isinstance(supplier_id, str) and supplier_id in first_seen:
            report.problems.append(
                Problem(
                    _join(path, "supplierId"),
                    f"repeats the supplierId of {first_seen[supplier_id]}",
                )
            )
        elif isinstance(supplier_id, str):
            first_seen[supplier_id] = path
        if entry is not None:
            report.entries.append(entry)
    if report.problems:
        report.entries.clear()  # all or nothing
        report.problems.sort(key=_item_index)  # stable: each supplier's problems together
    return report


def _item_index(problem: Problem) -> int:
    match = re.match(r"\$\[(\d+)\]", problem.path)
    return int(match.group(1)) if match else -1


def check_supplier(value: Any, path: str, report: Report) -> SupplierEntry | None:
    """Check one supplier object, adding to `report`; the entry when it has no problem."""
    if not isinstance(value, dict):
        report.problems.append(Problem(path, "must be an object"))
        return None
    problems = [
        Problem(_join(path, key), f"is not a known field ({', '.join(SUPPLIER_FIELDS)})")
        for key in value
        if key not in SUPPLIER_FIELDS
    ]
    checks = {
        "supplierId": _supplier_id_problems,
        "name": _name_problems,
        "locale": _locale_problems,
        "timezone": check_timezone,
    }
    for name, check in checks.items():
        where = _join(path, name)
        if name in value:
            problems.extend(check(value[name], where))
        elif name not in OPTIONAL_FIELDS:
            problems.append(_required(where))
    block_path = _join(path, "liveDiaryProvider")
    if "liveDiaryProvider" in value:
        block_problems, warnings = check_live_diary(value["liveDiaryProvider"], block_path)
        problems.extend(block_problems)
        report.warnings.extend(warnings)
    else:
        problems.append(_required(block_path))
    report.problems.extend(problems)
    supplier_id = value.get("supplierId")
    if problems or not isinstance(supplier_id, str):
        return None
    document = {k: _plain(value[k]) for k in WRITTEN_FIELDS if k in value}
    return SupplierEntry(supplier_id, document)


def check_live_diary(block: Any, path: str) -> tuple[list[Problem], list[Problem]]:
    """Problems and warnings of one `liveDiaryProvider` block."""
    if not isinstance(block, dict):
        return [Problem(path, "must be an object")], []
    problems: list[Problem] = []
    try:
        # Strict: "true" is not true and 5 is not "5", though the functions would cope.
        LiveDiaryProviderConfig.model_validate(dict(block), strict=True)
    except ValidationError as exc:
        for error in exc.errors():
            if "[key]" in error["loc"]:
                continue  # mapping keys are checked below, against ViSN's own codes
            where = path
            for part in error["loc"]:
                where = _join(where, part)
            problems.append(Problem(where, _message(error)))
    problems.extend(
        Problem(_join(path, name), KEYLOOP_ID_RULE)
        for name in ID_FIELDS
        if isinstance(block.get(name), str) and ".." in block[name]
    )
    warnings: list[Problem] = []
    for name, codes, what in (
        ("serviceTypeMapping", SERVICE_TYPES, "a ViSN service type"),
        ("optionalServiceMapping", OPTIONAL_SERVICES, "a ViSN optional service"),
    ):
        mapping = block.get(name)
        if isinstance(mapping, dict):
            _check_mapping(mapping, _join(path, name), codes, what, problems, warnings)
    flagged = {p.path for p in problems}
    return problems, [w for w in warnings if w.path not in flagged]


def _check_mapping(
    mapping: Mapping[str, Any],
    path: str,
    codes: tuple[str, ...],
    what: str,
    problems: list[Problem],
    warnings: list[Problem],
) -> None:
    for code, keyloop_id in mapping.items():
        where = _join(path, code)
        if code not in codes:
            problems.append(Problem(where, f"is not {what} (one of {', '.join(codes)})"))
        if not isinstance(keyloop_id, str):
            continue  # the model has said so
        if ".." in keyloop_id:
            problems.append(Problem(where, KEYLOOP_ID_RULE))
        elif codes == SERVICE_TYPES and not _GUID.fullmatch(keyloop_id):
            warnings.append(
                Problem(
                    where,
                    "is not a GUID, as Keyloop service product ids are: check it was copied whole",
                )
            )


def _required(path: str) -> Problem:
    return Problem(path, "is required")


def _supplier_id_problems(value: Any, path: str) -> list[Problem]:
    if not isinstance(value, str) or not SUPPLIER_ID.fullmatch(value):
        return [
            Problem(path, "must be 1 to 128 letters, digits, '_' or '-' (the ViSN supplier id)")
        ]
    if value.startswith("__") and value.endswith("__"):
        return [Problem(path, "must not start and end with '__' (reserved by Firestore)")]
    return []


def _name_problems(value: Any, path: str) -> list[Problem]:
    if not isinstance(value, str) or not value.strip():
        return [Problem(path, "must be a non-blank string")]
    if len(value) > MAX_NAME_LENGTH:
        return [Problem(path, f"must be at most {MAX_NAME_LENGTH} characters")]
    return []


def _locale_problems(value: Any, path: str) -> list[Problem]:
    if not isinstance(value, str) or not re.fullmatch(r"[a-z]{2}_[A-Z]{2}", value):
        return [Problem(path, "must be a locale such as en_GB or en_IE")]
    return []


def _message(error: ErrorDetails) -> str:
    kind = error["type"]
    loc = error["loc"]
    if kind == "missing":
        return "is required"
    if kind == "extra_forbidden":
        return f"is not a known field ({', '.join(PROVIDER_FIELDS)})"
    if kind == "literal_error":
        return 'must be "KEYLOOP" (the only live diary provider)'
    if kind in {"string_too_short", "string_too_long", "string_pattern_mismatch"}:
        return KEYLOOP_ID_RULE
    if kind == "string_type":
        return "must be a string"
    if kind == "dict_type":
        return "must be an object"
    if kind == "too_short" and loc == ("serviceTypeMapping",):
        return f"must map at least one ViSN service type ({', '.join(SERVICE_TYPES)})"
    if kind == "bool_type":
        return "must be true or false"
    return str(error["msg"])


def check_timezone(value: Any, path: str) -> list[Problem]:
    if not isinstance(value, str) or not value:
        return [Problem(path, "must be an IANA time zone name (e.g. Europe/London)")]
    if value in _NOT_ZONES or value not in _zones():
        shown = json.dumps(value[:64])
        return [Problem(path, f"{shown} is not an IANA time zone name (e.g. Europe/London)")]
    return []


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _join(path: str, part: str | int) -> str:
    """`$.a.b`, `$[0]`, or `$.a["odd key"]`."""
    if isinstance(part, int):
        return f"{path}[{part}]"
    if _PLAIN_KEY.fullmatch(part):
        return f"{path}.{part}"
    return f"{path}[{json.dumps(part[:64])}]"


class _JsonObject(dict[str, Any]):
    """A JSON object that remembers keys it saw twice (json keeps the last silently)."""

    def __init__(self, pairs: list[tuple[str, Any]]) -> None:
        super().__init__(pairs)
        seen: set[str] = set()
        self.duplicates: list[str] = []
        for key, _ in pairs:
            if key in seen and key not in self.duplicates:
                self.duplicates.append(key)
            seen.add(key)


def _duplicate_keys(value: Any, path: str) -> Iterator[Problem]:
    if isinstance(value, _JsonObject):
        for key in value.duplicates:
            yield Problem(_join(path, key), "appears more than once (JSON keeps only the last)")
        for key, item in value.items():
            yield from _duplicate_keys(item, _join(path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _duplicate_keys(item, _join(path, i))


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value
