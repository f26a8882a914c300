"""Seeding circulated prescriptions at the sandbox's prescription platform (``POST /sandbox/prescriptions``).

A prescription is seeded as the 7203 answer it downloads as — ``{data, rxdrugdetail, mdtrtinfo, diseinfo}`` — with
optional ``auth_rxno`` (a provisioned one-time authorisation number), ``epc_token``, ``epc_qrcd`` (the
e-prescription QR value 7201 decodes; default ``hi_rxno``) and ``status`` (valid | dispensed | revoked). Only the
real fields of each node are kept (``DATA``, ``DRUG``, ``MDTRT``, ``DISE``). The insurer's rule view of it
(``plugin.eligibility.Prescription``) is derived: institution ``data.fixmedins_code``, issue time ``prsc_time``,
validity to the day of ``valid_end_time`` (else ``valid_days``), lines from ``rxdrugdetail``, disease
``mdtrtinfo.dise_codg``, prescriber code the main diagnosis's ``dise_dor_no``.

The wave-1 body (``hi_rxno, psn_no, institution_code, physician_code, issued_at, valid_days, lines``) is still read
and rendered into that shape: drug names from the catalogue, the patient from the person, the disease from the
patient's filing for the drug, ``prsc_dr_name`` and ``dise_dor_no`` from the physician.
"""
from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any, cast

from plugin.eligibility import Prescription, RxLine, RxStatus, find_filing, last_valid_day

from adapters.sandbox import bodies
from adapters.sandbox.books import Books, Person, RxRecord
from adapters.sandbox.filings import wave1_disease
from adapters.sandbox.persons import age

DATA = ("hi_rxno", "fixmedins_code", "fixmedins_name", "prsc_time", "rx_drug_nums", "rx_way_codg", "rx_way_name",
        "rx_freq_codg", "rx_freq_name", "rx_dosunt", "rx_doscnt", "rx_drord_dscr", "valid_days", "valid_end_time",
        "rept_flag", "max_rept_cnt", "reptd_cnt", "min_inrv_days", "rx_file")
DRUG = ("med_list_codg", "fixmedins_hilist_id", "hosp_prep_flag", "rx_item_type_code", "rx_item_type_name",
        "tcmdrug_type_name", "tcmdrug_type_code", "tcmherb_foote", "medn_type_code", "medn_type_name",
        "main_medc_flag", "urgt_flag", "bas_medn_flag", "imp_drug_flag", "prod_barc", "drug_prodname",
        "genname_codg", "drug_genname", "chemname", "drugstdcode", "drug_dosform", "drug_spec", "prdr_name",
        "drug_pric", "drug_cnt", "drug_cnt_unit", "drug_sumamt", "medc_way_codg", "medc_way_dscr", "medc_starttime",
        "medc_endtime", "medc_days", "drug_dosunt", "sin_doscnt", "sin_dosunt", "used_frqu_codg", "used_frqu_name",
        "drug_totlnt", "drug_totlnt_emp", "dise_codg")
MDTRT = ("mdtrt_id", "med_type", "ipt_op_no", "psn_no", "patn_name", "age", "patn_ht", "patn_wt", "gend",
         "geso_val", "nwb_flag", "nwb_age", "suck_prd_flag", "algs_his", "insuplc_admdvs", "psn_cert_type", "certno",
         "insutype", "prsc_dept_name", "prsc_dept_code", "prsc_dr_name", "phar_name", "phar_chk_time", "mdtrt_time",
         "dise_codg", "dise_name", "sp_dise_flag", "diag_code", "diag_name", "dise_cond_dscr", "fstdiag")
DISE = ("diag_type", "maindiag_flag", "diag_srt_no", "diag_code", "diag_name", "diag_dept", "dise_dor_no",
        "dise_dor_name", "diag_time")
STATUSES = ("valid", "dispensed", "revoked", "expired")   # expired is normally computed from the validity
TIME = "%Y-%m-%d %H:%M:%S"


def main_diagnosis(body: dict[str, Any]) -> dict[str, Any]:
    dise = body.get("diseinfo") or []
    return next((r for r in dise if str(r.get("maindiag_flag")) == "1"), dise[0] if dise else {})


def _rule(body: dict[str, Any], psn_no: str) -> Prescription:
    """The insurer's rule view of a 7203 body (validity to the day of ``valid_end_time`` when given)."""
    data, info = body["data"], body["mdtrtinfo"]
    issued = bodies.moment(data.get("prsc_time"), "data.prsc_time")
    end = bodies.moment(data.get("valid_end_time"), "data.valid_end_time", required=False)
    assert issued is not None
    days = (end.date() - issued.date()).days + 1 if end else bodies.whole(data.get("valid_days"), "data.valid_days",
                                                                          minimum=1)
    if days < 1:
        raise bodies.bad("data.valid_end_time", "must not be before prsc_time.", "不能早于开方时间。")
    lines = tuple(RxLine(str(r["med_list_codg"]), Decimal(str(r["drug_cnt"]))) for r in body["rxdrugdetail"])
    disease = str(info.get("dise_codg") or next((r.get("dise_codg") for r in body["rxdrugdetail"]
                                                 if r.get("dise_codg")), "") or "")
    prescriber = str(main_diagnosis(body).get("dise_dor_no") or "") or None
    return Prescription(hi_rxno=str(data["hi_rxno"]), psn_no=psn_no, institution_code=str(data["fixmedins_code"]),
                        issued_at=issued, valid_days=days, lines=lines, physician_code=prescriber,
                        disease_code=disease, status="valid")


def _body_from_mapping(books: Books, d: dict[str, Any]) -> dict[str, Any]:
    data = bodies.scalar_copy(bodies.obj(d.get("data"), "data"), DATA, "data")
    for key in ("hi_rxno", "fixmedins_code"):
        data[key] = bodies.text(data, key, f"data.{key}")
    issued = bodies.moment(data.get("prsc_time"), "data.prsc_time")
    assert issued is not None
    data["prsc_time"] = issued.strftime(TIME)
    if data.get("valid_end_time") in (None, ""):
        bodies.whole(data.get("valid_days"), "data.valid_days", minimum=1)
    data["fixmedins_name"] = data.get("fixmedins_name") or books.institution_name(data["fixmedins_code"]) or None
    drugs = []
    for i, row in enumerate(bodies.rows(d.get("rxdrugdetail"), "rxdrugdetail")):
        drug = bodies.scalar_copy(row, DRUG, f"rxdrugdetail[{i}]")
        drug["med_list_codg"] = bodies.text(row, "med_list_codg", f"rxdrugdetail[{i}].med_list_codg")
        drug["drug_cnt"] = bodies.money(row.get("drug_cnt"), f"rxdrugdetail[{i}].drug_cnt", positive=True)
        drugs.append(drug)
    info = bodies.scalar_copy(bodies.obj(d.get("mdtrtinfo"), "mdtrtinfo"), MDTRT, "mdtrtinfo")
    info["psn_no"] = bodies.text(info, "psn_no", "mdtrtinfo.psn_no")
    dise = [bodies.scalar_copy(r, DISE, f"diseinfo[{i}]")
            for i, r in enumerate(bodies.rows(d.get("diseinfo"), "diseinfo", required=False))]
    return {"data": data, "rxdrugdetail": drugs, "mdtrtinfo": info, "diseinfo": dise}


def _wave1_body(books: Books, d: dict[str, Any], person: Person) -> dict[str, Any]:
    """A wave-1 body rendered as the 7203 answer the platform gives for it."""
    rule = Prescription.from_mapping(d)
    code = rule.physician_code or ""
    if isinstance(d.get("physician_name"), str) and d["physician_name"].strip() and code:
        books.physicians[code] = d["physician_name"].strip()
    if isinstance(d.get("institution_name"), str) and d["institution_name"].strip():
        books.register_institution(rule.institution_code, d["institution_name"].strip())
    unit = d.get("unit") if isinstance(d.get("unit"), str) and d.get("unit") else "盒"
    diag = d.get("diag_name") if isinstance(d.get("diag_name"), str) else None
    filings = [r.filing for r in books.filings_of(person.psn_no)]
    drugs, disease = [], None
    for i, line in enumerate(rule.lines):
        record = books.catalog.get(line.med_list_codg)
        entry = record.entry if record else None
        filing = find_filing(filings, entry.generic_name, books.today()) if entry else None
        disease = disease or filing
        # a real prescription always names a disease: without a filing, the drug's own (as a filing would have it)
        dise_codg = filing.disease_code if filing else (wave1_disease(entry.generic_name)[0] if entry else None)
        drugs.append({**{k: None for k in DRUG}, "med_list_codg": line.med_list_codg,
                      "main_medc_flag": "1" if i == 0 else "0", "drug_prodname": entry.drug_name if entry else None,
                      "drug_genname": entry.generic_name if entry else None,
                      "drug_spec": entry.spec if entry else None, "drug_cnt": line.qty, "drug_cnt_unit": unit,
                      "drug_dosform": record.dosage_form or None if record else None,
                      "dise_codg": dise_codg})
    name = books.physicians.get(code) or None
    prsc_time = rule.issued_at.strftime(TIME)
    data = {**{k: None for k in DATA}, "hi_rxno": rule.hi_rxno, "fixmedins_code": rule.institution_code,
            "fixmedins_name": books.institution_name(rule.institution_code) or None, "prsc_time": prsc_time,
            "rx_drug_nums": Decimal(len(rule.lines)), "valid_days": rule.valid_days,
            "valid_end_time": f"{last_valid_day(rule).isoformat()} 23:59:59", "rept_flag": "0"}
    base = person.baseinfo
    info = {**{k: None for k in MDTRT}, "med_type": "14", "psn_no": person.psn_no, "patn_name": person.psn_name,
            "age": age(str(base.get("brdy") or ""), rule.issued_at.date()), "gend": base.get("gend"),
            "insuplc_admdvs": person.insuplc_admdvs, "psn_cert_type": base.get("psn_cert_type") or "01",
            "certno": person.certno, "insutype": person.insutype, "prsc_dr_name": name,
            "mdtrt_time": prsc_time, "dise_codg": disease.disease_code if disease else drugs[0]["dise_codg"],
            "dise_name": disease.disease_name if disease else _wave1_name(rule, books), "sp_dise_flag": "1",
            "diag_name": diag}
    dise = [{"diag_type": "1", "maindiag_flag": "1", "diag_srt_no": "1", "diag_code": None, "diag_name": diag,
             "diag_dept": None, "dise_dor_no": code or None, "dise_dor_name": name, "diag_time": prsc_time}]
    return {"data": data, "rxdrugdetail": drugs, "mdtrtinfo": info, "diseinfo": dise}


def _wave1_name(rule: Prescription, books: Books) -> str | None:
    record = books.catalog.get(rule.lines[0].med_list_codg) if rule.lines else None
    return wave1_disease(record.entry.generic_name)[1] if record else None


def add_prescription(books: Books, d: Any) -> RxRecord:
    """A ``POST /sandbox/prescriptions`` body → the record (registered with its auth_rxno/epc_token)."""
    d = bodies.obj(d, "body")
    wave1 = "data" not in d
    psn_no = bodies.text(d, "psn_no") if wave1 else bodies.text(bodies.obj(d.get("mdtrtinfo"), "mdtrtinfo"),
                                                                  "psn_no", "mdtrtinfo.psn_no")
    person = books.persons.get(psn_no)
    if person is None:
        raise bodies.bad("psn_no" if wave1 else "mdtrtinfo.psn_no", f"no person {psn_no}; add the person first.",
                         "人员不存在，请先添加人员。")
    status = cast(RxStatus, bodies.text(d, "status", required=False, choices=STATUSES) or "valid")  # one of STATUSES
    tokens = {key: bodies.text(d, key, required=False) for key in ("auth_rxno", "epc_token", "epc_qrcd")}
    with books.lock:
        body = _wave1_body(books, d, person) if wave1 else _body_from_mapping(books, d)
        rule = _rule(body, psn_no)
        hi_rxno = rule.hi_rxno
        if body["data"].get("fixmedins_name"):
            books.register_institution(rule.institution_code, str(body["data"]["fixmedins_name"]), only_new=True)
        record = RxRecord(hi_rxno=hi_rxno, psn_no=psn_no, body=body, rule=rule, status=status,
                          epc_qrcd=tokens["epc_qrcd"] or hi_rxno, prescriber_code=rule.physician_code or "")
        books.prescriptions[hi_rxno] = record
        if tokens["auth_rxno"]:
            books.auth_rxnos[tokens["auth_rxno"]] = hi_rxno
        if tokens["epc_token"]:
            books.epc_tokens[tokens["epc_token"]] = hi_rxno
    return record


def valid_end_time(rx: RxRecord) -> str:
    return str(rx.body["data"].get("valid_end_time") or f"{last_valid_day(rx.rule).isoformat()} 23:59:59")


def issued(rx: RxRecord) -> datetime:
    return rx.rule.issued_at
