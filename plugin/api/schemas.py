"""Answer shapes of the POS API, for the OpenAPI document (the views build plain dicts of the same shape)."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

MoneyStr = Field(pattern=r"^-?\d+\.\d{2}$", examples=["230.00"])


class ErrorBody(BaseModel):
    code: str
    message: str
    message_zh: str
    details: dict[str, Any] = {}


class ErrorOut(BaseModel):
    error: ErrorBody


class ReasonOut(BaseModel):
    code: str
    message: str
    message_zh: str
    details: dict[str, Any] | None = None


class SplitLineOut(BaseModel):
    med_list_codg: str
    eligible: bool
    reasons: list[ReasonOut]
    line_total: str = MoneyStr
    fulamt_ownpay_amt: str = MoneyStr
    overlmt_selfpay: str = MoneyStr
    preselfpay_amt: str = MoneyStr
    inscp_scp_amt: str = MoneyStr


class SplitOut(BaseModel):
    medfee_sumamt: str = MoneyStr
    fulamt_ownpay_amt: str = MoneyStr
    overlmt_selfpay: str = MoneyStr
    preselfpay_amt: str = MoneyStr
    inscp_scp_amt: str = MoneyStr
    act_pay_dedc: str = MoneyStr
    hifp_pay: str = MoneyStr
    hifmi_pay: str = MoneyStr
    hifob_pay: str = MoneyStr
    maf_pay: str = MoneyStr
    oth_pay: str = MoneyStr
    fund_pay_sumamt: str = MoneyStr
    psn_part_amt: str = MoneyStr
    acct_pay: str = MoneyStr
    psn_cash_pay: str = MoneyStr
    balc: str = MoneyStr
    lines: list[SplitLineOut]


class MismatchOut(BaseModel):
    field: str
    insurer: str
    estimate: str


class SaleLineOut(BaseModel):
    line_no: int
    med_list_codg: str
    generic_name: str
    drug_name: str
    spec: str
    category: str
    qty: str
    price: str = MoneyStr
    payment_standard: str = MoneyStr
    line_total: str = MoneyStr
    donated: bool
    trdn_flag: int
    eligible: bool
    reasons: list[ReasonOut]
    trace_codes: list[str]
    confirmable: bool = Field(default=True, description=(
        "An ineligible line may be sold wholly self-paid on confirmation (false: a reason forbids it)"))


class JournalOut(BaseModel):
    msgid: str
    infno: str
    state: str
    infcode: int | None
    err_msg: str | None
    created_at: str
    answered_at: str | None


class SaleOut(BaseModel):
    id: str
    state: Literal["draft", "presettled", "settling", "settled", "in_doubt", "reversed", "refunding", "refunded",
                   "refund_in_doubt", "cancelled"]
    created_at: str
    updated_at: str
    biz_date: str
    patient_ref: str
    patient: dict[str, Any]
    hi_rxno: str | None
    prescription: dict[str, Any] | None
    acct_used: bool
    confirm_selfpay: bool
    medfee_sumamt: str = MoneyStr
    lines: list[SaleLineOut]
    presettle: dict[str, Any] | None
    setl_id: str | None
    mdtrt_id: str | None
    setl_time: str | None
    split: SplitOut | None
    estimate: SplitOut | None
    mismatch: list[MismatchOut]
    psn_cash_pay: str | None
    refund: dict[str, Any] | None
    last_error: dict[str, Any] | None
    journal: list[JournalOut]
    links: dict[str, str]
    uploads: dict[str, Any] | None = None


class SettlementOut(SaleOut):
    split: SplitOut
    estimate: SplitOut
    mismatch: list[MismatchOut]


class FilingOut(BaseModel):
    generic_name: str
    institution_code: str
    institution_name: str
    hosp_lv: str
    physicians: list[str]
    begin: str
    end: str
    review: str
    cross_region_approved: bool
    valid_today: bool


class PatientOut(BaseModel):
    patient_ref: str
    person: dict[str, str]
    cert_type: str
    cert_no: str = Field(description="masked unless the caller holds the pii scope")
    insutype: str
    psn_type: str
    insuplc_admdvs: str
    balc: str = MoneyStr
    filings: list[FilingOut]


class RxLineOut(BaseModel):
    med_list_codg: str
    qty: str
    generic_name: str
    drug_name: str
    spec: str
    category: str
    payment_standard: str | None
    eligible: bool
    reasons: list[ReasonOut]


class PrescriptionOut(BaseModel):
    hi_rxno: str
    institution_code: str
    institution_name: str
    physician_code: str
    physician_name: str
    issued_at: str
    valid_days: int
    valid_end_time: str
    status: str
    lines: list[RxLineOut]


class PrescriptionsOut(BaseModel):
    patient_ref: str
    prescriptions: list[PrescriptionOut]


class HintOut(BaseModel):
    code: Literal["caps_lock", "input_method", "id_number_invalid", "card_sn_needed", "other_code"]
    message: str
    message_zh: str


class ScanOut(BaseModel):
    kind: Literal["ecard", "ss_card", "id_card", "trace_code", "gs1", "prescription", "other_code", "unknown"]
    raw_length: int
    hints: list[HintOut] = Field(default_factory=list, description=(
        "What happened to the scan on the way (Caps Lock, an input method …); a patient credential with a hint "
        "has no scan_ref"))
    model_config = {"extra": "allow"}


class OpenSalesOut(BaseModel):
    sales: list[SaleOut]


class DaySalesOut(BaseModel):
    date: str | None = None
    setl_id: str | None = None
    sales: list[dict[str, Any]]


class HealthOut(BaseModel):
    status: Literal["ok", "degraded"]
    problems: list[str]
    version: str
    store: dict[str, Any]
    ledger: dict[str, Any]
    upstream: dict[str, Any]
    outbox: dict[str, Any]
    in_doubt: int
    in_doubt_ids: list[str]
    devices: list[dict[str, Any]]
    catalog_synced_at: str | None


class DeviceOut(BaseModel):
    name: str
    kind: Literal["scanner", "card_reader", "printer"]
    url: str
    state: Literal["connected", "connecting", "disconnected", "error"]
    error: str | None
    last_seen: str | None
    model_config = {"extra": "allow"}


class DevicesOut(BaseModel):
    devices: list[DeviceOut]


class DeviceTestOut(BaseModel):
    name: str
    ok: bool
    error: str | None = None
    scan: dict[str, Any] | None = None
    model_config = {"extra": "allow"}
