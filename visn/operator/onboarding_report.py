"""Supplier onboarding, the commands: `python -m visn suppliers validate|import` and what
they print (ids and codes only; never a contact detail)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

from visn.operator.onboarding_parse import Report, SupplierEntry, read_file
from visn.operator.onboarding_write import write_suppliers
from visn.records.suppliers import suppliers_path


def describe(entry: SupplierEntry) -> str:
    """Ids and codes only: what an import line shows of a supplier."""
    block: Mapping[str, Any] = entry.document["liveDiaryProvider"]
    enterprise = block.get("enterpriseId") or block["groupMappingId"]
    store = block.get("storeId") or block["supplierMappingId"]
    options = ", ".join(block.get("optionalServiceMapping") or {}) or "none"
    times = "local" if block.get("localTimes") else "UTC"
    return (
        f"KEYLOOP enterprise {enterprise} store {store} ({times} times, "
        f"{entry.document.get('timezone', 'time zone from the locale')}); "
        f"services {', '.join(block['serviceTypeMapping'])}; "
        f"options {options}"
    )


def validate_command(file: str, out: TextIO) -> int:
    report = read_file(Path(file))
    _print_report(file, report, out)
    return 0 if report.ok else 1


def import_command(file: str, out: TextIO) -> int:
    from visn.infra.clients import firestore_client

    report = read_file(Path(file))
    _print_report(file, report, out)
    if not report.ok:
        print(f"{file}: nothing imported", file=out)
        return 1
    if not announce_firestore(out):
        return 1
    try:
        written = write_suppliers(report.entries, firestore_client())
    except Exception as exc:  # credentials, permissions, network: say which, write nothing more
        print(f"write failed, nothing imported: {type(exc).__name__}: {_first_line(exc)}", file=out)
        return 1
    for entry, result in zip(report.entries, written, strict=True):
        verb = "replaced" if result.replaced else "created"
        print(f"{verb:<9}{suppliers_path()}/{entry.supplier_id}: {describe(entry)}", file=out)
    print(
        f"{len(written)} supplier(s) written; running functions pick the change up within "
        "30 s (their supplier cache)",
        file=out,
    )
    return 0


def announce_firestore(out: TextIO) -> bool:
    """Say which Firestore a command is about to use; False when none is named."""
    from visn.infra.clients import project_id

    project = project_id()
    if not project:
        print(
            "GCLOUD_PROJECT (or GOOGLE_CLOUD_PROJECT) is not set: name the Firebase project",
            file=out,
        )
        return False
    emulator = os.environ.get("FIRESTORE_EMULATOR_HOST")
    where = f"emulator at {emulator}" if emulator else "live"
    print(f"Firestore: project {project} ({where})", file=out)
    return True


def _print_report(file: str, report: Report, out: TextIO) -> None:
    for problem in report.problems:
        print(f"{file}: {problem}", file=out)
    for warning in report.warnings:
        print(f"{file}: warning: {warning}", file=out)
    if report.ok:
        ids = ", ".join(e.supplier_id for e in report.entries)
        print(f"{file}: valid: {len(report.entries)} supplier(s) ({ids})", file=out)
    else:
        print(f"{file}: {len(report.problems)} problem(s)", file=out)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else ""
