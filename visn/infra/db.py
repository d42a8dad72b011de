"""Bounded Firestore calls: a dead database fails a callable in seconds, not at its timeout."""

from __future__ import annotations

from typing import Any

from google.api_core.exceptions import GoogleAPICallError, RetryError
from google.api_core.retry import Retry
from google.cloud.firestore import Transaction

from visn.infra import settings


def budget_seconds() -> float:
    return float(settings.FIRESTORE_TIMEOUT_MS.value) / 1000


def call_options() -> dict[str, Any]:
    """`timeout=` bounds one attempt; the default retry would keep trying for ~60 s."""
    budget = budget_seconds()
    return {
        "timeout": budget,
        "retry": Retry(initial=0.05, maximum=0.5, multiplier=2.0, timeout=budget),
    }


class BoundedTransaction(Transaction):
    """A transaction whose begin, commit and rollback are bounded like every call of ours.

    The library's own take the API's defaults (a 60 s timeout, retried for minutes) and let
    us pass no options, so they are the ones overridden. Reads inside take `call_options()`
    as usual."""

    def _begin(self, retry_id: bytes | None = None) -> None:
        if self.in_progress:
            raise ValueError("transaction already begun")
        response = self._client._firestore_api.begin_transaction(
            request={
                "database": self._client._database_string,
                "options": self._options_protobuf(retry_id),
            },
            metadata=self._client._rpc_metadata,
            **call_options(),
        )
        self._id = response.transaction

    def _rollback(self) -> None:
        # Best effort: a transaction not committed expires by itself, and an error here would
        # hide the one that made us roll back (after a failed commit the emulator, like
        # Firestore, may no longer know the transaction).
        if not self.in_progress:
            return
        try:
            self._client._firestore_api.rollback(
                request={"database": self._client._database_string, "transaction": self._id},
                metadata=self._client._rpc_metadata,
                timeout=budget_seconds(),
                retry=None,
            )
        except (GoogleAPICallError, RetryError):
            pass
        finally:
            self._clean_up()

    def _commit(self) -> list[Any]:
        if not self.in_progress:
            raise ValueError("no transaction in progress")
        # A commit is not retried by us: a lost answer is told apart by reading back (the
        # caller's job), never by sending the same writes twice.
        response = self._client._firestore_api.commit(
            request={
                "database": self._client._database_string,
                "writes": self._write_pbs,
                "transaction": self._id,
            },
            metadata=self._client._rpc_metadata,
            timeout=budget_seconds(),
            retry=None,
        )
        self._clean_up()
        self.write_results = list(response.write_results)
        self.commit_time = response.commit_time
        return self.write_results


def transaction(client: Any, *, max_attempts: int) -> BoundedTransaction:
    return BoundedTransaction(client, max_attempts=max_attempts)
