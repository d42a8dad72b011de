"""Request models of the callables: the contract's input side, validated by pydantic.

Strict: no type coercion ("3" is not 3), unknown fields refused, every string bounded. The
JSON Schemas these produce are published in docs/ for the Web UI.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)
from pydantic_core import PydanticCustomError

_ASCII_ID = r"^[A-Za-z0-9_-]+$"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _iso_date(value: Any) -> date:
    if not isinstance(value, str) or not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        raise ValueError("must be a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValueError("is not a real calendar date") from None


def _aware_datetime(value: Any) -> datetime:
    if not isinstance(value, str) or len(value) > 40:
        raise ValueError("must be an ISO-8601 date-time string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an ISO-8601 date-time") from None
    if parsed.tzinfo is None:
        raise ValueError("must carry a UTC offset (e.g. +01:00 or Z)")
    return parsed


def _no_control_chars(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    return value


def _multiline(value: str) -> str:
    if _CONTROL.search(value.replace("\n", "").replace("\r", "").replace("\t", "")):
        raise ValueError("must not contain control characters")
    return value


def _registration(value: str) -> str:
    compact = value.replace(" ", "")
    if not re.fullmatch(r"[A-Za-z0-9]{2,10}", compact):
        raise ValueError("must be 2 to 10 letters or digits (spaces ignored)")
    return compact.upper()


IsoDate = Annotated[date, BeforeValidator(_iso_date)]
AwareDateTime = Annotated[datetime, BeforeValidator(_aware_datetime)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_ASCII_ID)]
IdempotencyKey = Annotated[str, StringConstraints(min_length=16, max_length=128, pattern=_ASCII_ID)]
Code = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Z][A-Z0-9_]*$")]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=50),
    AfterValidator(_no_control_chars),
]
Line = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=100),
    AfterValidator(_no_control_chars),
]
Notes = Annotated[str, StringConstraints(max_length=1000), AfterValidator(_multiline)]
CancelReason = Annotated[str, StringConstraints(max_length=500), AfterValidator(_multiline)]

COLLECTION_AND_DELIVERY = "COLLECTION_AND_DELIVERY"


class _Model(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class SlotRequest(_Model):
    start: AwareDateTime
    end: AwareDateTime | None = None

    @model_validator(mode="after")
    def _end_after_start(self) -> SlotRequest:
        if self.end is not None and self.end <= self.start:
            raise PydanticCustomError("slot_order", "end must be after start")
        return self


class Mileage(_Model):
    value: int = Field(ge=0, le=2_000_000)
    unit: Literal["MI", "KM"]


class Vehicle(_Model):
    registration: Annotated[str, StringConstraints(max_length=20), AfterValidator(_registration)]
    vin: (
        Annotated[
            str,
            StringConstraints(to_upper=True, pattern=r"^[A-HJ-NPR-Za-hj-npr-z0-9]{17}$"),
        ]
        | None
    ) = None
    description: Line | None = None
    mileage: Mileage | None = None


class Contact(_Model):
    givenName: Name  # noqa: N815 (the wire format's names)
    familyName: Name  # noqa: N815
    email: (
        Annotated[
            str,
            StringConstraints(
                strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
            ),
        ]
        | None
    ) = None
    phone: (
        Annotated[
            str, StringConstraints(strip_whitespace=True, pattern=r"^\+?[0-9][0-9 ()-]{5,19}$")
        ]
        | None
    ) = None


class Address(_Model):
    line1: Line
    line2: Line | None = None
    city: Line
    postalCode: Annotated[  # noqa: N815
        str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Za-z0-9][A-Za-z0-9 ]{1,9}$")
    ]


ServiceTypes = Annotated[list[Code], Field(min_length=1, max_length=5)]


def _unique(values: list[str]) -> list[str]:
    if len(set(values)) != len(values):
        raise ValueError("must not repeat a service type")
    return values


class AvailabilityRequest(_Model):
    supplierId: Id  # noqa: N815
    date: IsoDate
    days: int = Field(default=1, ge=1, le=14)
    serviceTypes: Annotated[ServiceTypes, AfterValidator(_unique)]  # noqa: N815
    optionalService: Code | None = None  # noqa: N815


class FirstAvailableRequest(_Model):
    supplierId: Id  # noqa: N815
    serviceTypes: Annotated[ServiceTypes, AfterValidator(_unique)]  # noqa: N815
    optionalService: Code | None = None  # noqa: N815
    from_: IsoDate | None = Field(default=None, alias="from")
    """The first day to search, in the supplier's zone; default (and at least) today."""
    withinDays: int = Field(default=28, ge=1, le=90)  # noqa: N815
    count: int = Field(default=5, ge=1, le=20)


class CreateBookingRequest(_Model):
    idempotencyKey: IdempotencyKey  # noqa: N815
    supplierId: Id  # noqa: N815
    serviceTypes: Annotated[ServiceTypes, AfterValidator(_unique)]  # noqa: N815
    optionalService: Code | None = None  # noqa: N815
    slot: SlotRequest
    vehicle: Vehicle
    contact: Contact
    notes: Notes | None = None
    collectionAddress: Address | None = None  # noqa: N815

    def cross_field_errors(self) -> list[tuple[str, str]]:
        """Rules between fields, with the path of the field to fix."""
        wants = self.optionalService == COLLECTION_AND_DELIVERY
        if wants and self.collectionAddress is None:
            return [("collectionAddress", "is required with COLLECTION_AND_DELIVERY")]
        if not wants and self.collectionAddress is not None:
            return [("collectionAddress", "is only allowed with COLLECTION_AND_DELIVERY")]
        return []


class CancelBookingRequest(_Model):
    enquiryId: Id  # noqa: N815
    reason: CancelReason | None = None


class RearrangeBookingRequest(_Model):
    idempotencyKey: IdempotencyKey  # noqa: N815
    enquiryId: Id  # noqa: N815
    slot: SlotRequest
