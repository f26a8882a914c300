"""What a sale's uploads say, and what they still lack (docs/reconciliation.md, "Uploads").

Pure: a sale and the facts around it in, the messages (or the missing fields) out; the outbox (plugin/outbox.py)
gathers the facts from the ledger and sends. Each message is checked against the gateway profile's required fields
before it is queued: an item that misses one is not sent blind — the sale names what is missing, per line, in the
words the pharmacist supplies (``lot``, ``manu_date``, ``expy_end``, ``pharmacist``, ``checker`` …).

Where each field of a pack comes from, first hit wins:

- lot, production date, expiry: the pack's GS1 code (AI 10, 11, 17); else what was supplied for the line after
  the sale; else the POS line; else the drug's only open stock batch. A date is taken only from a source naming the
  same lot (a production date of another batch would be false); the pharmacy's batch serial (``fixmedins_bchno``)
  is the stock entry's of that lot, else the lot itself;
- the pharmacist and the checking pharmacist: who was on duty at this counter when the sale was settled;
- the prescriber: the downloaded prescription (its ``prsc_dr_name``), else supplied;
- 7206's drug description (dosage form, manufacturer, unit): supplied for the line, else the prescription's line,
  else the dual-channel list (dosage form) or the stock entry of the pack's lot (manufacturer);
- the operator: the counter's operator (``[nhsa] opter_name``).
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from adapters.nhsa import uploads as tx
from adapters.nhsa.profile import GatewayProfile, MessageSpec
from plugin.money import fen
from plugin.sale import Sale, SaleLine, TraceCode
from plugin.store.stock import StockEntry
from plugin.tracecode import ScanError, classify

#: The interface's field → what the pharmacist supplies for it (``POST /v1/sales/{id}/upload-details``).
SUPPLIED = {"manu_lotnum": "lot", "fixmedins_bchno": "lot", "manu_date": "manu_date", "expy_end": "expy_end",
            "phar_name": "pharmacist", "phar_prac_cert_no": "pharmacist", "phar_certno": "pharmacist",
            "phar_cert_type": "pharmacist", "dspeer_name": "pharmacist", "rchk_phar_certno": "checker",
            "rchk_phar_name": "checker", "pro_name": "checker", "prsc_dr_name": "prescriber_name",
            "drug_dosform": "drug_dosform", "prdr_name": "prdr_name", "drug_cnt_unit": "drug_cnt_unit"}
LINE_FIELDS = ("lot", "manu_date", "expy_end", "drug_dosform", "prdr_name", "drug_cnt_unit")
SALE_FIELDS = ("pharmacist", "checker", "prescriber_name")


@dataclass(frozen=True)
class Context:
    """What the planner needs of the configuration: the gateway profile and the counter's operator."""
    profile: GatewayProfile
    opter_name: str


@dataclass(frozen=True)
class Patient:
    psn_no: str
    psn_cert_type: str
    certno: str
    psn_name: str


@dataclass(frozen=True)
class SaleFacts:
    """Everything the uploads of one sale are made from. ``facts`` is upload_facts (0 = the sale's: who was on
    duty, supplied prescriber; n = a line's supplied batch and drug details); ``stock`` the drug's stock entries."""
    sale: Sale
    packs: tuple[TraceCode, ...]
    patient: Patient
    facts: dict[int, dict[str, Any]]
    stock: dict[str, tuple[StockEntry, ...]] = field(default_factory=dict)
    drugs: dict[str, dict[str, str]] = field(default_factory=dict)   # the list's description (drug_dosform)

    @property
    def day(self) -> str:
        return (self.sale.setl_time or self.sale.biz_date)[:10]

    def staff(self, role: str) -> tx.Staff | None:
        person = self.facts.get(0, {}).get(role)
        if not person or not person.get("name"):
            return None
        return tx.Staff(name=person["name"], certno=person.get("certno", ""),
                        cert_type=person.get("cert_type", "01"), prac_cert_no=person.get("prac_cert_no", ""))


@dataclass(frozen=True)
class Missing:
    """Fields a line (``line_no``) or the sale (``line_no`` None) lacks: in the pharmacist's words (``fields``)
    and the interface's (``wire``), and which messages wait for them."""
    line_no: int | None
    fields: tuple[str, ...]
    wire: tuple[str, ...]
    infnos: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"line_no": self.line_no, "fields": list(self.fields), "wire": list(self.wire),
                "for": list(self.infnos)}


@dataclass(frozen=True)
class Plan:
    """The messages of one chain (each an ``input``), or what stops them."""
    messages: tuple[dict[str, Any], ...]
    missing: tuple[Missing, ...] = ()

    @property
    def ready(self) -> bool:
        return not self.missing


# -- a pack's batch ------------------------------------------------------------------------------------------------
def pack_batch(pack: TraceCode, line: SaleLine, supplied: dict[str, Any], stock: Iterable[StockEntry],
               day: str) -> tx.Batch:
    """The batch of one sold pack from its sources (module docstring)."""
    stock = list(stock)
    sources: list[tuple[str, str, str]] = []
    if pack.kind == "gs1":
        try:
            scan = classify(pack.raw)
        except ScanError:
            scan = None
        if scan is not None and scan.kind == "gs1":
            sources.append((scan.fields.get("lot") or "", scan.fields.get("production_date") or "",
                            scan.expiry.isoformat() if scan.expiry else ""))
    sources.append((supplied.get("lot") or "", supplied.get("manu_date") or "", supplied.get("expy_end") or ""))
    sources.append((line.lot, line.manu_date, line.expy_end))
    open_batches = [e for e in stock if e.retired_at is None and e.expy_end >= day]
    if len({e.lot for e in open_batches}) == 1:    # one batch on the shelf (entered once or more)
        e = open_batches[0]
        sources.append((e.lot, e.manu_date, e.expy_end))
    lot = next((s[0] for s in sources if s[0]), "")
    if not lot:
        return tx.Batch()
    same = [s for s in sources if s[0] == lot] + [(e.lot, e.manu_date, e.expy_end) for e in stock if e.lot == lot]
    bchno = next((e.bchno for e in stock if e.lot == lot and e.bchno), lot)
    return tx.Batch(manu_lotnum=lot, manu_date=next((s[1] for s in same if s[1]), ""),
                    expy_end=next((s[2] for s in same if s[2]), ""), fixmedins_bchno=bchno)


# -- 3505 / 3505A --------------------------------------------------------------------------------------------------
def _item_name(line: SaleLine) -> str:
    return f"{line.drug_name or line.generic_name} {line.spec}".strip()


def sale_items(ctx: Context, f: SaleFacts, codes: set[str] | None = None) -> list[tuple[int, tx.SaleItem]]:
    """The sale's items: a line's packs grouped by batch (one item per pack where the profile's trace form takes
    one code). ``codes`` limits the items to those packs (a re-plan after a refusal)."""
    sale, rx = f.sale, f.sale.rx or {}
    per_pack = tx.one_code_per_item(ctx.profile.uploads.trace_form)
    insured = sale.insurer is not None and bool(sale.setl_id)
    out: list[tuple[int, tx.SaleItem]] = []
    for line in sale.lines:
        packs = [p for p in f.packs if p.line_no == line.line_no and (codes is None or p.code in codes)]
        if not packs and codes is not None:
            continue
        supplied = f.facts.get(line.line_no, {})
        groups: dict[Any, list[TraceCode]] = {}
        for n, pack in enumerate(packs):
            batch = pack_batch(pack, line, supplied, f.stock.get(line.med_list_codg, ()), f.day)
            groups.setdefault((batch, n) if per_pack else batch, []).append(pack)
        if not packs:   # a line without codes still reports what was sold (the insurer refuses it, visibly)
            groups[pack_batch_without_code(line, supplied, f)] = []
        for key, members in groups.items():
            batch = key[0] if per_pack else key
            count = line.qty if line.trdn else Decimal(len(members) or line.qty)
            out.append((line.line_no, tx.SaleItem(
                med_list_codg=line.med_list_codg, fixmedins_hilist_id=line.med_list_codg,
                fixmedins_hilist_name=_item_name(line), batch=batch, sel_retn_cnt=count, finl_trns_pric=line.price,
                codes=tuple(p.code for p in members), trdn_flag="1" if line.trdn else "0", rtal_docno=sale.id,
                mdtrt_sn=sale.id, sel_retn_time=sale.setl_time or sale.updated_at,
                sel_retn_opter_name=ctx.opter_name, pharmacist=f.staff("pharmacist"),
                prsc_dr_name=rx.get("physician_name") or f.facts.get(0, {}).get("prescriber_name", ""),
                rxno=sale.hi_rxno or "", rx_circ_flag="1" if sale.hi_rxno else "0",
                setl_id=sale.setl_id or "", insured=insured and line.insured, psn_no=f.patient.psn_no,
                psn_cert_type=f.patient.psn_cert_type, certno=f.patient.certno, psn_name=f.patient.psn_name)))
    return out


def pack_batch_without_code(line: SaleLine, supplied: dict[str, Any], f: SaleFacts) -> tx.Batch:
    blank = TraceCode(sale_id=f.sale.id, line_no=line.line_no, code="", raw="", kind="", expiry=None,
                      trdn=line.trdn, qty=line.qty, released=False, created_at="")
    return pack_batch(blank, line, supplied, f.stock.get(line.med_list_codg, ()), f.day)


def _missing(spec: MessageSpec | None, rows: Iterable[tuple[int | None, dict[str, Any]]], infno: str,
             required: Iterable[str] = ()) -> list[Missing]:
    """Per line (or the sale, line None), the required fields its rows leave empty."""
    needed = list(spec.required if spec else ()) + list(required)
    lacking: dict[int | None, list[str]] = {}
    for line_no, row in rows:
        for key in needed:
            value = row.get(key)
            if value is None or (isinstance(value, str) and not value.strip()):
                where = line_no if SUPPLIED.get(key, "") not in SALE_FIELDS else None
                if key not in lacking.setdefault(where, []):
                    lacking[where].append(key)
    return [Missing(line_no=where, fields=tuple(dict.fromkeys(SUPPLIED.get(k, k) for k in keys)),
                    wire=tuple(keys), infnos=(infno,)) for where, keys in sorted(lacking.items(), key=_order)]


def _order(item: tuple[int | None, Any]) -> int:
    return -1 if item[0] is None else item[0]


def personal_fields(spec: MessageSpec | None) -> tuple[str, ...]:
    return tuple(k for k in ("certno", "psn_name") if spec is not None and k in spec.required)


def plan_sale(ctx: Context, f: SaleFacts, codes: set[str] | None = None) -> Plan:
    """The 3505 messages of a sale (3505A batches of ``batch_size`` items where the profile says so)."""
    profile = ctx.profile
    spec = profile.message(profile.uploads.sale_infno)
    items = sale_items(ctx, f, codes)
    wired = [(line_no, item.to_wire(profile.uploads.trace_form, personal=personal_fields(spec)))
             for line_no, item in items]
    missing = _missing(spec, wired, profile.uploads.sale_infno)
    if missing:
        return Plan((), tuple(missing))
    size = profile.uploads.batch_size if profile.uploads.sale_infno == "3505A" else 1
    rows = [w for _, w in wired]
    return Plan(tuple(tx.sale_upload_input(profile, rows[i:i + size]) for i in range(0, len(rows), size)))


def plan_returns(ctx: Context, sold: Iterable[dict[str, Any]], *, when: str, setl_id: str, memo: str) -> Plan:
    """The 3506 messages returning the items of delivered (or possibly delivered) 3505 messages."""
    profile = ctx.profile
    items = []
    for message in sold:
        body = message.get("selinfoDetail") if "selinfoDetail" in message else [message.get("selinfo")]
        items += [tx.return_item(item, sel_retn_time=when, sel_retn_opter_name=ctx.opter_name,
                                 trace_form=profile.uploads.trace_form, setl_id=setl_id, memo=memo)
                  for item in body or () if isinstance(item, dict)]
    return Plan(tuple(tx.sale_return_input(item) for item in items))


# -- 7204 / 7206 ---------------------------------------------------------------------------------------------------
def _rx_line(rx: dict[str, Any], code: str) -> dict[str, Any]:
    return next((ln for ln in rx.get("lines", []) if ln.get("med_list_codg") == code), {})


def plan_rx(ctx: Context, f: SaleFacts) -> Plan:
    """7204 (the review) then 7206 (the dispensing result) of a sale made against a downloaded prescription."""
    sale, rx = f.sale, f.sale.rx or {}
    nobody = tx.Staff("")
    pharmacist, checker = f.staff("pharmacist") or nobody, f.staff("checker") or nobody
    when = sale.setl_time or sale.updated_at
    review = tx.rx_review_input(hi_rxno=sale.hi_rxno or "", pharmacist=pharmacist, checker=checker, rx_chk_time=when)
    packs = []
    rows: list[tuple[int | None, dict[str, Any]]] = []
    for line in sale.lines:
        rx_line = {k: v for k, v in _rx_line(rx, line.med_list_codg).items() if v}
        described = {**f.drugs.get(line.med_list_codg, {}), **rx_line,
                     **{k: v for k, v in f.facts.get(line.line_no, {}).items()
                        if k in ("drug_dosform", "prdr_name", "drug_cnt_unit")}}
        supplied = f.facts.get(line.line_no, {})
        members: list[TraceCode | None] = [p for p in f.packs if p.line_no == line.line_no] or [None]
        for pack in members:
            batch = (pack_batch(pack, line, supplied, f.stock.get(line.med_list_codg, ()), f.day) if pack
                     else pack_batch_without_code(line, supplied, f))
            maker = described.get("prdr_name") or next(
                (e.prdr_name for e in f.stock.get(line.med_list_codg, ())
                 if e.lot == batch.manu_lotnum and e.prdr_name),
                "")
            item = tx.DispensedPack(
                med_list_codg=line.med_list_codg, fixmedins_hilist_id=line.med_list_codg,
                fixmedins_hilist_name=_item_name(line), drug_genname=line.generic_name,
                drug_prodname=line.drug_name, drug_dosform=described.get("drug_dosform") or "",
                drug_spec=line.spec or described.get("drug_spec") or "", prdr_name=maker,
                drug_cnt_unit=described.get("drug_cnt_unit") or described.get("unit") or "", batch=batch,
                trdn_flag="1" if line.trdn else "0", finl_trns_pric=line.price,
                sel_retn_cnt=line.qty if line.trdn or pack is None else Decimal(1), code=pack.code if pack else "")
            packs.append(item)
            rows.append((line.line_no, item.to_wire()))
    insurer = sale.insurer or {}
    dispense = tx.dispense_input(
        hi_rxno=sale.hi_rxno or "", pharmacist=pharmacist, checker=checker,
        download_ide_code=str(rx.get("download_ide_code") or ""), setl_id=sale.setl_id or "",
        setl_time=sale.setl_time or when, sel_retn_time=when, amounts=_paid(sale, insurer), packs=packs,
        insured=bool(insurer))
    spec_review, spec_dispense = ctx.profile.message("7204"), ctx.profile.message("7206")
    missing = _missing(spec_review, [(None, review["data"])], "7204")
    missing += _missing(spec_dispense, [(None, dispense["data"])], "7206")
    missing += _missing(MessageSpec(node="selinfo", required=spec_dispense.lines_required) if spec_dispense
                        else None, rows, "7206")
    if missing:
        return Plan((), tuple(_merged(missing)))
    return Plan((review, dispense))


def _paid(sale: Sale, insurer: dict[str, Any]) -> dict[str, Decimal]:
    """What 7206 reports as paid for the dispensing: the sale's split (the insurer's settlement plus the lines sold
    outside it, in cash), else the insurer's settlement alone."""
    if sale.split is not None:
        return {k: fen(getattr(sale.split, k)) for k in ("fund_pay_sumamt", "psn_part_amt", "acct_pay",
                                                         "psn_cash_pay")}
    return tx.amounts_of(insurer)


def _merged(missing: list[Missing]) -> list[Missing]:
    """One entry per line (and one for the sale) across messages."""
    out: dict[int | None, Missing] = {}
    for m in missing:
        had = out.get(m.line_no)
        out[m.line_no] = m if had is None else Missing(
            m.line_no, tuple(dict.fromkeys(had.fields + m.fields)), tuple(dict.fromkeys(had.wire + m.wire)),
            tuple(dict.fromkeys(had.infnos + m.infnos)))
    return [out[k] for k in sorted(out, key=lambda n: -1 if n is None else n)]


def merge_missing(*plans: Plan) -> list[Missing]:
    return _merged([m for p in plans for m in p.missing])
