"""Identify a patient and gather what the gateway says of them: 1101 (person), 5301 (filings), 5302 (designated
institutions), 5206 (year-to-date accumulations) — docs/gateway.md 1101, 5301, 5302, 5206.

An e-voucher QR is decoded first (the QR is not the token); 1101 is then sent with type 01 and the token, which stays
the patient's 就诊凭证 for the sale. The answer hands the POS a ``patient_ref`` instead of the credential, so later
calls never carry personal data; the unmasked credential stays in the ledger, where 2101/2102 need it.

What is not in the gateway is said so: the 5301 filings carry a disease and dates (no drug, hospital or physician);
when 5206 is not available the year-to-date figures are the store's own ledger's and only a lower bound.
"""
from __future__ import annotations

import contextvars
import re
import secrets
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import date
from decimal import Decimal
from typing import Any, TypeVar
from collections.abc import Callable

from adapters.evoucher.http import EVoucherRefused, EVoucherUnavailable, Identity
from adapters.nhsa import person as px
from plugin.credentials import E_VOUCHER, Credential, normalise
from plugin.errors import RxlaneError, UpstreamRefused, UpstreamUnavailable
from plugin.privacy import mask_card, mask_certno, mask_middle, mask_name, mask_psn_no, mask_token
from plugin.store import Ledger, PatientRow
from plugin.upstream import Upstream, insurer_data

REF_RE = re.compile(r"P[0-9a-f]{24}")
YTD_KEYS = ("deductible_paid", "fund_paid", "selfpay", "supplementary_paid")
Decoder = Callable[[str], Identity]

__all__ = ["Credential", "identify", "load", "view", "unknown_ref", "ytd_lower_bound"]


def _decode(decoder: Decoder, qr: str) -> Identity:
    try:
        return decoder(qr)
    except EVoucherRefused as exc:
        raise RxlaneError("EVOUCHER_REFUSED", details={"code": exc.code, "reason": exc.reason}) from None
    except EVoucherUnavailable:
        raise RxlaneError("EVOUCHER_UNAVAILABLE") from None


T = TypeVar("T")
#: Queries sent beside one another while a patient is identified (read-only: nothing moves at the insurer).
_ASK = ThreadPoolExecutor(max_workers=8, thread_name_prefix="rxlane-ask")


def _beside(fn: Callable[..., T], *args: Any) -> Future[T]:
    """Run ``fn`` on the query pool with this request's context (its request id reaches the log lines)."""
    return _ASK.submit(contextvars.copy_context().run, fn, *args)


def _person_query(cred: Credential, decoder: Decoder) -> tuple[dict[str, Any], str]:
    """The 1101 input for a credential, and the 就诊凭证 number the sale will carry (the token for 01)."""
    if cred.cert_type == E_VOUCHER:
        who = _decode(decoder, cred.cert_no)
        return px.person_info_input(E_VOUCHER, who.ec_token, psn_cert_type=who.id_type, certno=who.id_no,
                                    psn_name=who.user_name), who.ec_token
    return px.person_info_input(cred.cert_type, cred.cert_no, card_sn=cred.card_sn,
                                psn_name=cred.psn_name), cred.cert_no


def identify(ledger: Ledger, upstream: Upstream, cred: Credential, *, decoder: Decoder, pii: bool = False,
             today: date | None = None, ytd_codes: dict[str, str] | None = None) -> dict[str, Any]:
    """Identify (normalised credential → 1101), read filings (5301), registrations (5302) and year-to-date figures
    (5206, where ``ytd_codes`` maps the province's cum_type_codes); keep the patient; answer the masked view."""
    cred = normalise(cred)
    today = today or date.today()
    query, mdtrt_cert_no = _person_query(cred, decoder)
    try:
        out = upstream.query("1101", query)
    except UpstreamRefused as exc:
        raise RxlaneError("PATIENT_NOT_FOUND", details={"insurer": exc.err_msg}) from None
    with insurer_data("1101"):
        parsed = px.parse_person(out)
    insurance = parsed.insurance
    if insurance is None:
        raise RxlaneError("PATIENT_NOT_FOUND", details={"insurer": "1101: no insurance"})
    admdvs = insurance.insuplc_admdvs
    # 5302 and 5206 go out beside 5301: none depends on another, and at a provincial gateway's latency the
    # counter waits for one round trip instead of three
    registrations = _beside(_registrations, upstream, parsed.psn_no, admdvs)
    accumulations = _beside(_accumulations, upstream, parsed.psn_no, today, admdvs) if ytd_codes else None
    filings_out = upstream.query("5301", px.filing_query_input(parsed.psn_no), insuplc_admdvs=admdvs)
    with insurer_data("5301"):
        filings = [{"opsp_dise_code": f.opsp_dise_code, "opsp_dise_name": f.opsp_dise_name,
                    "begin": f.begndate, "end": f.enddate} for f in px.parse_filings(filings_out)]
    person: dict[str, Any] = {
        "psn_no": parsed.psn_no, "psn_name": parsed.psn_name, "certno": parsed.certno, "gend": parsed.gend,
        "age": parsed.age, "brdy": parsed.brdy, "insutype": insurance.insutype, "psn_type": insurance.psn_type,
        "insuplc_admdvs": admdvs, "balc": None if insurance.balc is None else f"{insurance.balc:.2f}",
        "registrations": registrations.result(),
    }
    rows = accumulations.result() if accumulations is not None else None
    person["ytd"], person["ytd_source"] = _ytd(ledger, rows, parsed.psn_no, insurance.insutype, today,
                                               ytd_codes or {})
    ref = ledger.patients.save("P" + secrets.token_hex(12), parsed.psn_no, cred.cert_type, mdtrt_cert_no,
                               cred.card_sn, person, filings)
    return view(ref, person, filings, cert_type=cred.cert_type, cert_no=mdtrt_cert_no, pii=pii, today=today)


def _registrations(upstream: Upstream, psn_no: str, admdvs: str) -> list[str] | None:
    """The designated institutions (5302, biz_appy_type 03); None when the insurer cannot say (then the
    designated-institution rule is left to the insurer)."""
    try:
        out = upstream.query("5302", px.registrations_input(psn_no, "03"), insuplc_admdvs=admdvs)
    except (UpstreamRefused, UpstreamUnavailable):
        return None
    with insurer_data("5302"):
        return [r.fixmedins_code for r in px.parse_registrations(out) if r.fixmedins_code]


def _accumulations(upstream: Upstream, psn_no: str, today: date, admdvs: str) -> list[Any] | None:
    """5206 rows of this month, or None when the insurer cannot say."""
    try:
        out = upstream.query("5206", px.accumulations_input(psn_no, today.strftime("%Y%m")), insuplc_admdvs=admdvs)
        with insurer_data("5206"):
            return list(px.parse_accumulations(out))
    except (UpstreamRefused, UpstreamUnavailable):
        return None


def _ytd(ledger: Ledger, rows: list[Any] | None, psn_no: str, insutype: str, today: date,
         codes: dict[str, str]) -> tuple[dict[str, str], str]:
    """Year-to-date figures for the local estimate: from the 5206 rows where the profile maps their codes, else
    the store's own settlements this year — a lower bound, said so (``ytd_source``)."""
    if codes and rows is not None:
        totals = {k: Decimal("0") for k in YTD_KEYS}
        for row in rows:
            key = codes.get(row.cum_type_code)
            if key in totals and (not row.insutype or row.insutype == insutype) \
                    and (not row.year or row.year == str(today.year)):
                totals[key] += row.cum
        return {k: f"{v:.2f}" for k, v in totals.items()}, "5206"
    return ytd_lower_bound(ledger, psn_no, today.year), "ledger"


def ytd_lower_bound(ledger: Ledger, psn_no: str, year: int) -> dict[str, str]:
    """What this store's own settlements this year add up to: the insurer's figures are at least these."""
    totals = ledger.sales.year_totals(psn_no, year)
    return {"deductible_paid": f"{totals['act_pay_dedc']:.2f}", "fund_paid": f"{totals['hifp_pay']:.2f}",
            "selfpay": f"{max(Decimal('0'), totals['inscp_scp_amt'] - totals['hifp_pay']):.2f}",
            "supplementary_paid": f"{totals['hifmi_pay'] + totals['hifob_pay']:.2f}"}


def unknown_ref(ref: str) -> RxlaneError:
    # echo the reference only when it looks like one: an ID number typed into the wrong field must not come back
    shown = ref if REF_RE.fullmatch(ref) else mask_middle(ref[:64], 2, 2)
    return RxlaneError("PATIENT_NOT_FOUND", message="Unknown patient_ref; identify the patient first.",
                       message_zh="未找到该患者，请先读卡或扫码识别患者。", details={"patient_ref": shown})


def load(ledger: Ledger, ref: str) -> tuple[dict[str, Any], list[dict[str, Any]], PatientRow]:
    """The stored person, their filings and the row (with the credential) of a patient_ref."""
    row = ledger.patients.get(ref)
    if row is None:
        raise unknown_ref(ref)
    return row.person, row.filings, row


def view(ref: str, person: dict[str, Any], filings: list[dict[str, Any]], *, cert_type: str, cert_no: str,
         pii: bool = False, today: date | None = None) -> dict[str, Any]:
    today = today or date.today()
    masker = {"01": mask_token, "02": mask_certno, "03": mask_card}[cert_type]
    iso = today.isoformat()
    return {
        "patient_ref": ref,
        "person": {
            "psn_no": person["psn_no"] if pii else mask_psn_no(person["psn_no"]),
            "psn_name": person["psn_name"] if pii else mask_name(person["psn_name"]),
            "certno": person["certno"] if pii else mask_certno(person["certno"]),
            "gend": person.get("gend", ""), "age": person.get("age", ""),
        },
        "cert_type": cert_type,
        "cert_no": cert_no if pii else masker(cert_no),
        "insutype": person["insutype"],
        "psn_type": person.get("psn_type", ""),
        "insuplc_admdvs": person["insuplc_admdvs"],
        "balc": person.get("balc"),
        "ytd_source": person.get("ytd_source", "ledger"),
        "filings": [dict(f, valid_today=f["begin"] <= iso and (not f["end"] or iso <= f["end"])) for f in filings],
    }

