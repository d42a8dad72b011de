"""Supplier onboarding, the write: a checked file's live diary fields into ViSN's supplier
records, in one batch (all or nothing), replacing only our fields (visn/operator/onboarding_parse.py
says which)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from visn.infra import db
from visn.operator.onboarding_parse import SupplierEntry
from visn.records.suppliers import suppliers_path

if TYPE_CHECKING:
    from google.cloud.firestore import Client as FirestoreClient


@dataclass(frozen=True)
class Written:
    supplier_id: str
    replaced: bool  # a document was there before (it is now replaced, not merged)


def write_suppliers(entries: list[SupplierEntry], client: FirestoreClient) -> list[Written]:
    """Write our fields of every supplier record in one batch: all are written, or none.
    Only the fields the entry holds are replaced (merge on those fields); ViSN's stay."""
    refs = [client.collection(suppliers_path()).document(e.supplier_id) for e in entries]
    existing = {s.id for s in client.get_all(refs, **db.call_options()) if s.exists}
    batch = client.batch()
    for ref, entry in zip(refs, entries, strict=True):
        batch.set(ref, entry.document, merge=list(entry.document))
    batch.commit(**db.call_options())
    return [Written(e.supplier_id, e.supplier_id in existing) for e in entries]
