"""`python -m visn keyloop-check`: run keyloop's check for a supplier as Firestore holds it.

The supplier is read the way the functions read it (`parse_supplier`), so the check uses the
same Keyloop store, service product and time mode a booking would.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, TextIO

from keyloop import Store
from keyloop.check import CheckTarget, run_check
from visn.infra import clock, db
from visn.infra.clients import firestore_client, project_id
from visn.operator.onboarding_parse import (
    OPTIONAL_SERVICES,
    SERVICE_TYPES,
    SUPPLIER_ID,
    check_live_diary,
    check_timezone,
)
from visn.operator.onboarding_report import announce_firestore
from visn.records.suppliers import Supplier, parse_supplier, suppliers_path


def keyloop_check_command(
    supplier_id: str,
    out: TextIO,
    *,
    day: date | None = None,
    service_type: str | None = None,
    optional_service: str | None = None,
) -> int:
    if not SUPPLIER_ID.fullmatch(supplier_id):
        print("--supplier must be 1 to 128 letters, digits, '_' or '-'", file=out)
        return 1
    if not announce_firestore(out):
        return 1
    try:
        snapshot = (
            firestore_client()
            .collection(suppliers_path())
            .document(supplier_id)
            .get(**db.call_options())
        )
    except Exception as exc:  # credentials, permissions, network
        print(f"cannot read {suppliers_path()}/{supplier_id}: {type(exc).__name__}", file=out)
        return 1
    if not snapshot.exists:
        print(f"no document {suppliers_path()}/{supplier_id} in project {project_id()}", file=out)
        return 1
    data: Mapping[str, Any] = snapshot.to_dict() or {}
    _note_config_problems(data, out)
    supplier = parse_supplier(supplier_id, data)
    if supplier.store is None:
        print(
            f"FAILED: {suppliers_path()}/{supplier_id} has no usable KEYLOOP liveDiaryProvider "
            "block, so the functions answer NO_LIVE_DIARY for it; fix it with "
            "`python -m visn suppliers import`",
            file=out,
        )
        return 1
    target = _target(supplier, supplier.store, out, day, service_type, optional_service)
    if target is None:
        return 1
    return 0 if run_check(target, out=out).ok else 1


def _target(
    supplier: Supplier,
    store: Store,
    out: TextIO,
    day: date | None,
    service_type: str | None,
    optional_service: str | None,
) -> CheckTarget | None:
    mapped = [c for c in SERVICE_TYPES if c in supplier.service_products]
    mapped += [c for c in supplier.service_products if c not in SERVICE_TYPES]
    code = service_type or mapped[0]
    if code not in supplier.service_products:
        print(f"FAILED: the supplier does not map {code} (it maps {', '.join(mapped)})", file=out)
        return None
    option_id = None
    if optional_service is not None:
        option_id = supplier.appointment_options.get(optional_service)
        if option_id is None:
            offered = [c for c in OPTIONAL_SERVICES if c in supplier.appointment_options]
            print(
                f"FAILED: the supplier does not map {optional_service} "
                f"(it maps {', '.join(offered) or 'no optional service'})",
                file=out,
            )
            return None
    print(
        f"supplier          {supplier.supplier_id} ({supplier.timezone.key}): "
        f"{code} -> service product {supplier.service_products[code]}"
        + (f", {optional_service} -> option {option_id}" if optional_service else ""),
        file=out,
    )
    return CheckTarget(
        store=store,
        day=day or clock.now().astimezone(supplier.timezone).date(),
        service_product_ids=(supplier.service_products[code],),
        appointment_option_id=option_id,
    )


def _note_config_problems(data: Mapping[str, Any], out: TextIO) -> None:
    """What `suppliers validate` would say of the stored time zone and live diary block (the
    functions are more lenient: an unknown time zone quietly becomes Europe/London). Other
    fields of the document are ViSN's business, not checked here."""
    problems = check_timezone(data.get("timezone"), "$.timezone") if "timezone" in data else []
    if isinstance(data.get("liveDiaryProvider"), Mapping):
        problems += check_live_diary(dict(data["liveDiaryProvider"]), "$.liveDiaryProvider")[0]
    for problem in problems:
        print(f"config: {problem}", file=out)
