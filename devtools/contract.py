"""The callables' JSON Schemas, generated from the pydantic request models.

`python -m devtools.contract` rewrites docs/schemas/; a test fails when they are stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pydantic import BaseModel

from visn.schemas import (
    AvailabilityRequest,
    CancelBookingRequest,
    CreateBookingRequest,
    RearrangeBookingRequest,
)

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "docs" / "schemas"
REQUESTS: dict[str, type[BaseModel]] = {
    "getAvailability": AvailabilityRequest,
    "createBooking": CreateBookingRequest,
    "cancelBooking": CancelBookingRequest,
    "rearrangeBooking": RearrangeBookingRequest,
}


def rendered() -> dict[str, str]:
    """File name → JSON text, for every request schema."""
    files = {}
    for name, model in REQUESTS.items():
        schema = model.model_json_schema()
        schema["$id"] = f"https://visn.example/schemas/{name}.request.json"
        schema["title"] = f"{name} request"
        files[f"{name}.request.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return files


def main() -> int:
    SCHEMA_DIR.mkdir(parents=True, exist_ok=True)
    for file_name, text in rendered().items():
        (SCHEMA_DIR / file_name).write_text(text)
        print(f"wrote docs/schemas/{file_name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
