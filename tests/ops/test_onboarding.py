"""`python -m visn suppliers validate|import`: every problem with its JSON path; import writes
`suppliers/{supplierId}` in the Firestore emulator the environment names."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from google.cloud import firestore

from devtools.seed import DEMO_SUPPLIERS, IE_SUPPLIER, UK_SUPPLIER
from keyloop import Store
from visn.__main__ import main
from visn.records.suppliers import parse_supplier

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "docs" / "examples" / "suppliers.json"

GOOD: dict[str, Any] = {
    "supplierId": "keyloop-york",
    "name": "York Motors",
    "timezone": "Europe/London",
    "liveDiaryProvider": {
        "provider": "KEYLOOP",
        "groupMappingId": "ENT-1001",
        "supplierMappingId": "STORE-01",
        "serviceTypeMapping": {"SERVICE": "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001"},
        "optionalServiceMapping": {"COURTESY_CAR": "7a1d2e3f-0000-4000-8000-000000000002"},
        "localTimes": False,
    },
}


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, list[str]]:
    code = main(list(argv))
    return code, capsys.readouterr().out.splitlines()


def write(tmp_path: Path, payload: Any, name: str = "suppliers.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(payload, indent=2), encoding="utf-8")
    return str(path)


def problems(file: str, lines: list[str]) -> list[str]:
    """The problem lines, without the file prefix, summary and warnings."""
    prefix = f"{file}: "
    return [
        line.removeprefix(prefix)
        for line in lines
        if line.startswith(prefix + "$") and ": warning: " not in line
    ]


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def apply(supplier: dict[str, Any]) -> None:
        node = supplier
        for part in parents:
            node = node[part]
        node[last] = value

    return apply


def _delete(path: str) -> Callable[[dict[str, Any]], None]:
    *parents, last = path.split(".")

    def apply(supplier: dict[str, Any]) -> None:
        node = supplier
        for part in parents:
            node = node[part]
        del node[last]

    return apply


def _rename_key(mapping: str, old: str, new: str) -> Callable[[dict[str, Any]], None]:
    def apply(supplier: dict[str, Any]) -> None:
        block = supplier["liveDiaryProvider"][mapping]
        block[new] = block.pop(old)

    return apply


LDP = "$.liveDiaryProvider"
ID_RULE = "must be a Keyloop id"

# One mistake each: (change to GOOD, the one problem path, words its message must contain).
ONE_MISTAKE = [
    (_set("liveDiaryProvider.provider", "DMS"), f"{LDP}.provider", 'must be "KEYLOOP"'),
    (_delete("liveDiaryProvider.groupMappingId"), f"{LDP}.groupMappingId", "is required"),
    (_set("liveDiaryProvider.groupMappingId", ""), f"{LDP}.groupMappingId", ID_RULE),
    (_set("liveDiaryProvider.supplierMappingId", "STORE/01"), f"{LDP}.supplierMappingId", ID_RULE),
    (_set("liveDiaryProvider.supplierMappingId", 7), f"{LDP}.supplierMappingId", "a string"),
    (_set("liveDiaryProvider.enterpriseId", "ENT..1"), f"{LDP}.enterpriseId", ID_RULE),
    (_set("liveDiaryProvider.storeId", "-S1"), f"{LDP}.storeId", ID_RULE),
    (
        _set("liveDiaryProvider.serviceTypeMapping", {}),
        f"{LDP}.serviceTypeMapping",
        "at least one ViSN service type",
    ),
    (
        _set("liveDiaryProvider.serviceTypeMapping", ["SERVICE"]),
        f"{LDP}.serviceTypeMapping",
        "must be an object",
    ),
    (
        _rename_key("serviceTypeMapping", "SERVICE", "SERVCE"),
        f"{LDP}.serviceTypeMapping.SERVCE",
        "is not a ViSN service type (one of SERVICE, MOT, REPAIR, TYRE, GLASS)",
    ),
    (
        _rename_key("serviceTypeMapping", "SERVICE", "service"),
        f"{LDP}.serviceTypeMapping.service",
        "is not a ViSN service type",
    ),
    (
        _set("liveDiaryProvider.serviceTypeMapping.MOT", 42),
        f"{LDP}.serviceTypeMapping.MOT",
        "must be a string",
    ),
    (
        _set("liveDiaryProvider.serviceTypeMapping.SERVICE", "3f0c 6a52"),
        f"{LDP}.serviceTypeMapping.SERVICE",
        ID_RULE,
    ),
    (
        _rename_key("optionalServiceMapping", "COURTESY_CAR", "COURTESY"),
        f"{LDP}.optionalServiceMapping.COURTESY",
        "is not a ViSN optional service (one of COLLECTION_AND_DELIVERY, COURTESY_CAR, "
        "WHILE_YOU_WAIT)",
    ),
    (
        _set("liveDiaryProvider.optionalServiceMapping.COURTESY_CAR", "a..b"),
        f"{LDP}.optionalServiceMapping.COURTESY_CAR",
        ID_RULE,
    ),
    (_set("liveDiaryProvider.localTimes", "true"), f"{LDP}.localTimes", "true or false"),
    (_set("liveDiaryProvider.localTimes", 1), f"{LDP}.localTimes", "true or false"),
    (_set("liveDiaryProvider.storeID", "S1"), f"{LDP}.storeID", "is not a known field"),
    (_set("liveDiaryProvider", "KEYLOOP"), LDP, "must be an object"),
    (_delete("liveDiaryProvider"), LDP, "is required"),
    (_set("timezone", "Europe/Lndon"), "$.timezone", '"Europe/Lndon" is not an IANA time zone'),
    (_set("timezone", "localtime"), "$.timezone", "is not an IANA time zone"),
    (_set("timezone", 0), "$.timezone", "must be an IANA time zone"),
    (_set("locale", "Irish"), "$.locale", "must be a locale such as en_GB or en_IE"),
    (_set("supplierId", "keyloop york"), "$.supplierId", "letters, digits, '_' or '-'"),
    (_set("supplierId", "x" * 129), "$.supplierId", "1 to 128"),
    (_set("supplierId", "__york__"), "$.supplierId", "reserved by Firestore"),
    (_delete("supplierId"), "$.supplierId", "is required"),
    (_set("name", "   "), "$.name", "non-blank"),
    (_set("name", "x" * 201), "$.name", "at most 200"),
    (_set("colour", "red"), "$.colour", "is not a known field"),
]


def test_a_good_supplier_is_valid(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    file = write(tmp_path, GOOD)
    assert run(capsys, "suppliers", "validate", file) == (
        0,
        [f"{file}: valid: 1 supplier(s) (keyloop-york)"],
    )


def test_the_documented_example_and_the_demo_suppliers_are_valid(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, lines = run(capsys, "suppliers", "validate", str(EXAMPLE))
    assert (code, lines) == (
        0,
        [f"{EXAMPLE}: valid: 2 supplier(s) (keyloop-leeds, keyloop-dublin)"],
    )

    demo = [{"supplierId": s, **DEMO_SUPPLIERS[s]} for s in (UK_SUPPLIER, IE_SUPPLIER)]
    file = write(tmp_path, demo)
    assert run(capsys, "suppliers", "validate", file) == (
        0,
        [f"{file}: valid: 2 supplier(s) (keyloop-leeds, keyloop-dublin)"],
    )


@pytest.mark.parametrize(("change", "path", "words"), ONE_MISTAKE)
def test_each_mistake_is_one_problem_at_its_path(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    change: Callable[[dict[str, Any]], None],
    path: str,
    words: str,
) -> None:
    supplier = copy.deepcopy(GOOD)
    change(supplier)
    file = write(tmp_path, supplier)

    code, lines = run(capsys, "suppliers", "validate", file)

    assert code == 1
    (problem,) = problems(file, lines)
    assert problem.startswith(f"{path}: ")
    assert words in problem
    assert lines[-1] == f"{file}: 1 problem(s)"


def test_a_list_reports_every_problem_of_every_supplier(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad_zone = copy.deepcopy(GOOD) | {"supplierId": "a", "timezone": "Mars/Olympus"}
    bad_block = copy.deepcopy(GOOD) | {"supplierId": "b"}
    bad_block["liveDiaryProvider"]["provider"] = "keyloop"
    bad_block["liveDiaryProvider"]["serviceTypeMapping"] = {"MOT": "", "TYRES": "x"}
    repeated = copy.deepcopy(GOOD) | {"supplierId": "a"}
    file = write(tmp_path, [GOOD, bad_zone, bad_block, repeated, "keyloop-leeds"])

    code, lines = run(capsys, "suppliers", "validate", file)

    assert code == 1
    assert problems(file, lines) == [
        '$[1].timezone: "Mars/Olympus" is not an IANA time zone name (e.g. Europe/London)',
        '$[2].liveDiaryProvider.provider: must be "KEYLOOP" (the only live diary provider)',
        "$[2].liveDiaryProvider.serviceTypeMapping.MOT: must be a Keyloop id: 1 to 128 "
        "letters, digits, '.', '_', ':' or '-', starting with a letter or digit, without '..'",
        "$[2].liveDiaryProvider.serviceTypeMapping.TYRES: is not a ViSN service type (one of "
        "SERVICE, MOT, REPAIR, TYRE, GLASS)",
        "$[3].supplierId: repeats the supplierId of $[1]",
        "$[4]: must be an object",
    ]
    assert lines[-1] == f"{file}: 6 problem(s)"


def test_a_key_given_twice_is_a_problem(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    text = json.dumps(GOOD).replace(
        '"SERVICE": "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001"',
        '"SERVICE": "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001", "SERVICE": "3f0c6a52-6f7e-4d4b-'
        '9b1e-0a0000000003"',
    )
    file = tmp_path / "twice.json"
    file.write_text(text, encoding="utf-8")

    code, lines = run(capsys, "suppliers", "validate", str(file))

    assert code == 1
    assert problems(str(file), lines) == [
        "$.liveDiaryProvider.serviceTypeMapping.SERVICE: appears more than once (JSON keeps "
        "only the last)"
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"supplierId": ', "$: is not valid JSON: Expecting value (line 1, column 16)"),
        ("[]", "$: is an empty array: no supplier to import"),
        ('"keyloop-leeds"', "$: must be a supplier object or an array of them"),
        ('{"supplierId": NaN}', "$: is not valid JSON: NaN is not allowed"),
    ],
)
def test_a_file_that_is_not_a_supplier_file(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str, problem: str
) -> None:
    file = tmp_path / "odd.json"
    file.write_text(content, encoding="utf-8")
    code, lines = run(capsys, "suppliers", "validate", str(file))
    assert code == 1
    assert problems(str(file), lines) == [problem]


def test_a_missing_file(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    file = str(tmp_path / "none.json")
    assert run(capsys, "suppliers", "validate", file) == (
        1,
        [f"{file}: $: cannot read the file (No such file or directory)", f"{file}: 1 problem(s)"],
    )


def test_a_service_product_that_is_not_a_guid_is_a_warning_only(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    supplier = copy.deepcopy(GOOD)
    supplier["liveDiaryProvider"]["serviceTypeMapping"]["MOT"] = "3f0c6a52-6f7e-4d4b-9b1e"
    file = write(tmp_path, supplier)
    code, lines = run(capsys, "suppliers", "validate", file)
    assert code == 0
    assert lines == [
        f"{file}: warning: $.liveDiaryProvider.serviceTypeMapping.MOT: is not a GUID, as "
        "Keyloop service product ids are: check it was copied whole",
        f"{file}: valid: 1 supplier(s) (keyloop-york)",
    ]


# -- import, into the Firestore emulator ------------------------------------------------------


def _doc(db: firestore.Client, supplier_id: str) -> dict[str, Any] | None:
    snapshot = db.collection("suppliers").document(supplier_id).get()
    return snapshot.to_dict() if snapshot.exists else None


def test_import_writes_each_supplier_as_the_functions_read_it(
    capsys: pytest.CaptureFixture[str], firestore_env: firestore.Client
) -> None:
    code, lines = run(capsys, "suppliers", "import", str(EXAMPLE))

    assert code == 0
    assert lines[1:] == [
        f"Firestore: project demo-visn (emulator at {os.environ['FIRESTORE_EMULATOR_HOST']})",
        "created  suppliers/keyloop-leeds: KEYLOOP enterprise ENT-1001 store STORE-01 (UTC "
        "times, Europe/London); services SERVICE, MOT; options COURTESY_CAR",
        "created  suppliers/keyloop-dublin: KEYLOOP enterprise ENT-2002 store STORE-07 (local "
        "times, Europe/Dublin); services SERVICE, TYRE; options none",
        "2 supplier(s) written; running functions pick the change up within 30 s (their "
        "supplier cache)",
    ]
    for entry in json.loads(EXAMPLE.read_text(encoding="utf-8")):
        supplier_id = entry.pop("supplierId")
        assert _doc(firestore_env, supplier_id) == _ours(entry)
    dublin = _doc(firestore_env, "keyloop-dublin")
    assert dublin is not None
    supplier = parse_supplier("keyloop-dublin", dublin)
    assert supplier.store is not None
    assert supplier.store == Store("ENT-2002", "STORE-07", supplier.timezone)
    assert dict(supplier.service_products) == {
        "SERVICE": "3f0c6a52-6f7e-4d4b-9b1e-0a0000000001",
        "TYRE": "3f0c6a52-6f7e-4d4b-9b1e-0a0000000004",
    }


def _ours(entry: dict[str, Any]) -> dict[str, Any]:
    """What an import writes of an entry: our fields only (ViSN's `name` and `locale` stay)."""
    return {k: v for k, v in entry.items() if k in ("timezone", "liveDiaryProvider")}


def test_import_replaces_our_fields_and_leaves_visn_s_alone(
    capsys: pytest.CaptureFixture[str], firestore_env: firestore.Client, tmp_path: Path
) -> None:
    visn_fields = {"name": "York Motors Ltd", "locale": "en_GB", "legacyField": True}
    old_block = {"provider": "KEYLOOP", "serviceTypeMapping": {"GLASS": "old"}, "stale": 1}
    firestore_env.collection("suppliers").document("keyloop-york").set(
        {**visn_fields, "timezone": "Europe/Dublin", "liveDiaryProvider": old_block}
    )
    file = write(tmp_path, GOOD)

    code, lines = run(capsys, "suppliers", "import", file)

    assert code == 0
    assert lines[2].startswith("replaced suppliers/keyloop-york: KEYLOOP enterprise ENT-1001")
    # The block is replaced as a whole (no stale mapping survives); ViSN's fields stay.
    assert _doc(firestore_env, "keyloop-york") == {**visn_fields, **_ours(GOOD)}


def test_import_of_a_file_with_any_problem_writes_nothing(
    capsys: pytest.CaptureFixture[str], firestore_env: firestore.Client, tmp_path: Path
) -> None:
    bad = copy.deepcopy(GOOD) | {"supplierId": "keyloop-bad", "timezone": "London"}
    file = write(tmp_path, [GOOD, bad])

    code, lines = run(capsys, "suppliers", "import", file)

    assert code == 1
    assert lines == [
        f'{file}: $[1].timezone: "London" is not an IANA time zone name (e.g. Europe/London)',
        f"{file}: 1 problem(s)",
        f"{file}: nothing imported",
    ]
    assert list(firestore_env.collection("suppliers").stream()) == []


def test_import_needs_a_project(
    capsys: pytest.CaptureFixture[str],
    firestore_env: firestore.Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("GCLOUD_PROJECT")
    file = write(tmp_path, GOOD)
    code, lines = run(capsys, "suppliers", "import", file)
    assert code == 1
    assert lines[-1].startswith("GCLOUD_PROJECT (or GOOGLE_CLOUD_PROJECT) is not set")
    assert list(firestore_env.collection("suppliers").stream()) == []


def test_import_as_its_own_process(firestore_env: firestore.Client, tmp_path: Path) -> None:
    file = write(tmp_path, GOOD)
    done = subprocess.run(  # noqa: S603 (our own fixed command)
        [sys.executable, "-m", "visn", "suppliers", "import", file],
        env=dict(os.environ),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "created  suppliers/keyloop-york: " in done.stdout
    assert _doc(firestore_env, "keyloop-york") == _ours(GOOD)
