"""Typed request bodies of the POS API (docs/pos-integration.md), validated at the boundary.

Money: at most two decimals, never negative, accepted as a string or a JSON number (parsed as Decimal, never
through float). Quantities: positive, at most three decimals (拆零 sales sell 0.5 of a pack).
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from plugin.credentials import Credential
from plugin.sale import Order, OrderLine

MAX_LINES = 50
MAX_CODES = 200


def _to_decimal(value: Any) -> Any:
    if isinstance(value, bool) or value is None:
        raise ValueError("must be a decimal number")
    if isinstance(value, (int, Decimal)):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(str(value))
    if isinstance(value, str):
        try:
            parsed = Decimal(value.strip())
        except InvalidOperation:
            raise ValueError("must be a decimal number") from None
        return parsed
    raise ValueError("must be a decimal number")


def _money(value: Decimal) -> Decimal:
    if not value.is_finite():
        raise ValueError("must be a finite amount")
    if value < 0:
        raise ValueError("must not be negative")
    if value.as_tuple().exponent < -2:  # type: ignore[operator]
        raise ValueError("must have at most two decimals")
    if value > Decimal("99999999.99"):
        raise ValueError("is too large")
    return value.quantize(Decimal("0.01"))


def _qty(value: Decimal) -> Decimal:
    if not value.is_finite() or value <= 0:
        raise ValueError("must be greater than zero")
    if value.as_tuple().exponent < -3:  # type: ignore[operator]
        raise ValueError("must have at most three decimals")
    if value > 9999:
        raise ValueError("is too large")
    return value.normalize() if value == value.to_integral() else value


Money = Annotated[Decimal, BeforeValidator(_to_decimal), AfterValidator(_money),
                  Field(json_schema_extra={"type": "string", "pattern": r"^\d+(\.\d{1,2})?$", "example": "230.00"})]
Quantity = Annotated[Decimal, BeforeValidator(_to_decimal), AfterValidator(_qty),
                     Field(json_schema_extra={"type": "string", "pattern": r"^\d+(\.\d{1,3})?$", "example": "1"})]
Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")]


class _In(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class ScanIn(_In):
    raw: str = Field(max_length=4096)


CERT_TYPES = {"01": "01", "02": "02", "03": "03", "ecard": "01", "id_card": "02", "ss_card": "03"}


class IdentifyIn(_In):
    cert_type: Literal["01", "02", "03", "ecard", "id_card", "ss_card"] | None = Field(default=None, description=(
        "01 e-voucher token (ecard), 02 resident ID number (id_card), 03 social-security card (ss_card)"))
    cert_no: str = Field(default="", max_length=512)
    card_sn: str = Field(default="", max_length=64)
    psn_name: str = Field(default="", max_length=64)
    scan_ref: str = Field(default="", max_length=64, description=(
        "Instead of cert_type/cert_no: the scan_ref of a device scan event (the number never leaves the service)."))

    @model_validator(mode="after")
    def _one_way(self) -> IdentifyIn:
        if not self.scan_ref and not (self.cert_type and self.cert_no):
            raise ValueError("give cert_type and cert_no, or a scan_ref")
        return self

    @property
    def mdtrt_cert_type(self) -> str:
        return CERT_TYPES[self.cert_type or "01"]

    def credential(self) -> Credential:
        return Credential(cert_type=self.mdtrt_cert_type, cert_no=self.cert_no, card_sn=self.card_sn,
                          psn_name=self.psn_name)


def _real_date(value: str) -> str:
    try:
        date.fromisoformat(value)
    except ValueError:
        raise ValueError("must be a real date (YYYY-MM-DD)") from None
    return value


IsoDate = Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$", max_length=10, examples=["2024-09-11"]),
                    AfterValidator(_real_date)]
Lot = Annotated[str, Field(min_length=1, max_length=30, pattern=r"^[0-9A-Za-z._/\-]+$", examples=["B2409117"])]


class SaleLineIn(_In):
    med_list_codg: Code
    qty: Quantity
    price: Money
    trace_codes: list[Annotated[str, Field(max_length=512)]] = Field(default_factory=list, max_length=MAX_CODES)
    donated: bool = False
    lot: Lot | None = Field(default=None, description="The batch's lot number (生产批号) when the packs' codes do "
                                                      "not carry it; reported in 3505.")
    manu_date: IsoDate | None = Field(default=None, description="The batch's production date (生产日期).")
    expy_end: IsoDate | None = Field(default=None, description="The batch's expiry date (有效期至).")


class SaleIn(_In):
    patient_ref: str = Field(min_length=1, max_length=64)
    hi_rxno: str | None = Field(default=None, max_length=64)
    lines: list[SaleLineIn] = Field(min_length=1, max_length=MAX_LINES)
    acct_used: bool = True
    confirm_selfpay: bool = Field(default=False, description=(
        "The pharmacist confirmed that ineligible lines are sold wholly self-paid (全自费)."))

    def order(self) -> Order:
        return Order(patient_ref=self.patient_ref, hi_rxno=self.hi_rxno, acct_used=self.acct_used,
                     confirm_selfpay=self.confirm_selfpay,
                     lines=tuple(OrderLine(med_list_codg=ln.med_list_codg, qty=ln.qty, price=ln.price,
                                           trace_codes=tuple(ln.trace_codes), donated=ln.donated,
                                           lot=ln.lot or "", manu_date=ln.manu_date or "",
                                           expy_end=ln.expy_end or "")
                                 for ln in self.lines))


class TraceCodesIn(_In):
    codes: list[Annotated[str, Field(min_length=1, max_length=512)]] = Field(min_length=1, max_length=MAX_CODES)
    line_no: int | None = Field(default=None, ge=1, le=MAX_LINES)
    distinct_from: list[Annotated[str, Field(pattern=r"^S\d{8}[0-9A-F]{12}$")]] = Field(
        default_factory=list, max_length=10, description=(
            "Sales the pharmacist confirmed hold another box whose code differs from this one only by letter case "
            "(the answer to TRACE_CODE_CASE_VARIANT names the sale)."))


class AccountIn(_In):
    acct_used: bool = Field(description="Pay the personal part from the personal account (个人账户) or not.")


class SettleIn(_In):
    confirm_selfpay: bool | None = None
    password: str | None = Field(default=None, min_length=1, max_length=32, description=(
        "The patient's e-voucher or card password, where the province requires it on settlement (sent sealed, "
        "never stored)."))


class RefundIn(_In):
    reason: str = Field(default="", max_length=200)
    lines: list[int] | None = Field(default=None, max_length=MAX_LINES, description=(
        "Line numbers to refund. Only the whole sale can be refunded (the insurer cancels a settlement as a "
        "whole, 2103); a subset is refused with PARTIAL_REFUND_UNSUPPORTED."))


class ReconciliationIn(_In):
    date: str = Field(pattern=r"^\d{4}-\d{2}-\d{2}$")


# -- uploads: duty, details supplied after a sale, stock batches (docs/reconciliation.md) ----------------------------
Licence = Annotated[str, Field(min_length=1, max_length=50, pattern=r"^[0-9A-Za-z\-]+$",
                               description="A practising licence number (执业药师注册证号) from the store's roster.")]


class DutyIn(_In):
    """Who is on duty at this counter from now on; a role left out keeps its pharmacist, null takes it off duty."""
    pharmacist: Licence | None = Field(default=None, description="审方/配药药师")
    checker: Licence | None = Field(default=None, description="复核/核对药师 (may be the same person)")


class LineDetailsIn(_In):
    line_no: int = Field(ge=1, le=MAX_LINES)
    lot: Lot | None = None
    manu_date: IsoDate | None = None
    expy_end: IsoDate | None = None
    drug_dosform: str | None = Field(default=None, min_length=1, max_length=30)
    prdr_name: str | None = Field(default=None, min_length=1, max_length=200)
    drug_cnt_unit: str | None = Field(default=None, min_length=1, max_length=20)

    @model_validator(mode="after")
    def _dates_in_order(self) -> LineDetailsIn:
        if self.manu_date and self.expy_end and self.manu_date > self.expy_end:
            raise ValueError("manu_date must not be after expy_end")
        return self

    def values(self) -> dict[str, str]:
        return {k: v for k, v in self.model_dump(exclude={"line_no"}).items() if v}


class UploadDetailsIn(_In):
    """What a sale's uploads lack (``GET /v1/sales/{id}`` → ``uploads.missing``), supplied by the pharmacist."""
    lines: list[LineDetailsIn] = Field(default_factory=list, max_length=MAX_LINES)
    pharmacist: Licence | None = None
    checker: Licence | None = None
    prescriber_name: str | None = Field(default=None, min_length=1, max_length=50)

    @model_validator(mode="after")
    def _something(self) -> UploadDetailsIn:
        numbers = [ln.line_no for ln in self.lines]
        if len(set(numbers)) != len(numbers):
            raise ValueError("a line_no appears twice")
        if not (any(ln.values() for ln in self.lines) or self.pharmacist or self.checker or self.prescriber_name):
            raise ValueError("supply at least one detail")
        return self


class OutboxRetryIn(_In):
    """Send parked or waiting-on-time uploads again now: one row (``id``) or all of them."""
    id: int | None = Field(default=None, ge=1, le=2 ** 62)


class StockIn(_In):
    """A batch of a drug on the store's shelf: the last source of a pack's lot and dates."""
    med_list_codg: Code
    lot: Lot
    manu_date: IsoDate
    expy_end: IsoDate
    bchno: str = Field(default="", max_length=30, pattern=r"^[0-9A-Za-z._/\-]*$",
                       description="The pharmacy's own batch serial (定点医药机构批次流水号); empty: the lot")
    prdr_name: str = Field(default="", max_length=200, description="The manufacturer (生产厂家), reported in 7206")

    @model_validator(mode="after")
    def _dates_in_order(self) -> StockIn:
        if self.manu_date > self.expy_end:
            raise ValueError("manu_date must not be after expy_end")
        return self
