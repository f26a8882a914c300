"""`rxlane gateway check` — try a store's settings against a province's gateway without a sale.

It signs in (9001) for real, then shows, for every transaction of the gateway profile, the URL it goes to, the
receiver code, and the envelope rxlane would send — built by the same builders as a real sale from placeholder
values, personal fields masked — checked against the profile's required fields. Nothing but 9001 is sent.
"""
from __future__ import annotations

import json
import sys
from datetime import date
from decimal import Decimal
from typing import Any

import click

from adapters.nhsa import catalogue, person, prescriptions, reconciliation, settlement, signin, uploads
from adapters.nhsa.client import GatewayClient
from adapters.nhsa.errors import GatewayError, GatewayRefused
from adapters.nhsa.profile import check_input
from plugin.errors import RxlaneError
from plugin.privacy import mask_certno, mask_name, mask_psn_no
from plugin.uploads import personal_fields
from plugin.upstream import refused, unavailable

PSN, CERT, NAME = "36000000000000000001", "360102196803152049", "张晓梅"
#: fields naming a person (patient or pharmacist), masked in what the check prints
PERSON_NAMES = frozenset({"psn_name", "patn_name", "phar_name", "rchk_phar_name", "dspeer_name", "pro_name"})


def sample_inputs(client: GatewayClient) -> dict[str, dict[str, Any]]:
    """A representative input per transaction, from the builders a sale uses (values are placeholders)."""
    profile, s = client.profile, client.settings
    line = settlement.DrugLine(feedetl_sn="S1-1", med_list_codg="XL01EBA341A001010100701", cnt=Decimal("1"),
                               pric=Decimal("4837.00"), rxno="HX36011100301000000001", rx_circ_flag="1",
                               fee_ocur_time="2025-11-20 09:30:00", bilg_dr_name="医师")
    settle = settlement.settle_input(profile, psn_no=PSN, mdtrt_cert_type="02", mdtrt_cert_no=CERT, insutype="310",
                                     acct_used=True, lines=[line], begntime="2025-11-20 09:30:00")
    return {
        "1101": person.person_info_input("02", CERT, psn_name=NAME),
        "5301": person.filing_query_input(PSN),
        "5302": person.registrations_input(PSN),
        "5206": person.accumulations_input(PSN, "202511"),
        "1312": catalogue.catalogue_query_input(updt_time="2025-01-01", page_num=1, page_size=100),
        "1318": catalogue.price_ceiling_input(updt_time="2025-01-01", page_num=1, page_size=100),
        "2101": settle,
        "2102": settle,
        "2103": settlement.cancel_input("3601000012345678", "360000176360000000012345", PSN),
        "2601": settlement.reversal_input(PSN, f"{s.fixmedins_code}202511200931050007", "2102"),
        "7202": prescriptions.rx_query_input(mdtrt_cert_type="02", mdtrt_cert_no=CERT, card_sn="",
                                             insuplc_admdvs=s.mdtrtarea_admvs, ip_info="127.0.0.1", opter=s.opter,
                                             opter_name=s.opter_name, optins=s.fixmedins_code),
        "7201": prescriptions.qr_decode_input("EPCQRCODE0000000001", app_chnl_id="", app_chnl_user_id="",
                                              dev_info="rxlane", ip_info="127.0.0.1", opter=s.opter,
                                              opter_name=s.opter_name, optins=s.fixmedins_code),
        "7203": prescriptions.rx_download_input(insuplc_admdvs=s.mdtrtarea_admvs, auth_rxno="AUTH0000000001"),
        **_after_sale_inputs(client),
    }


def _after_sale_inputs(client: GatewayClient) -> dict[str, dict[str, Any]]:
    """What follows a settlement: the hospital-level query, the reviews and dispensing of a circulated
    prescription, the sale and return reports, the day's reconciliation and its files, and sign-out."""
    profile, s = client.profile, client.settings
    pharmacist, checker = (uploads.Staff("药师", certno=CERT, prac_cert_no="PRAC0001"),
                           uploads.Staff("复核药师", certno=CERT, prac_cert_no="PRAC0002"))
    batch = uploads.Batch(manu_lotnum="LOT0001", manu_date="2025-01-01", expy_end="2027-12-31",
                          fixmedins_bchno="LOT0001")
    code = "83123456789012345678"
    item = uploads.SaleItem(
        med_list_codg="XL01EBA341A001010100701", fixmedins_hilist_id="XL01EBA341A001010100701",
        fixmedins_hilist_name="奥希替尼", batch=batch, sel_retn_cnt=Decimal("1"), finl_trns_pric=Decimal("4837.00"),
        codes=(code,), trdn_flag="0", rtal_docno="S1", mdtrt_sn="S1", sel_retn_time="2025-11-20 09:31:05",
        sel_retn_opter_name=s.opter_name or "收银员", pharmacist=pharmacist, prsc_dr_name="医师",
        rxno="HX36011100301000000001", rx_circ_flag="1", setl_id="3601000012345678", insured=True, psn_no=PSN,
        certno=CERT, psn_name=NAME)
    spec = profile.message(profile.uploads.sale_infno)
    wired = item.to_wire(profile.uploads.trace_form, personal=personal_fields(spec))
    pack = uploads.DispensedPack(
        med_list_codg=item.med_list_codg, fixmedins_hilist_id=item.fixmedins_hilist_id,
        fixmedins_hilist_name=item.fixmedins_hilist_name, drug_genname="奥希替尼", drug_prodname="泰瑞沙",
        drug_dosform="片剂", drug_spec="80mg*30片", prdr_name="阿斯利康", drug_cnt_unit="盒", batch=batch,
        trdn_flag="0", finl_trns_pric=item.finl_trns_pric, sel_retn_cnt=Decimal("1"), code=code)
    day = date(2025, 11, 20)
    row = reconciliation.DetailRow(setl_id="3601000012345678", mdtrt_id="360000176360000000012345", psn_no=PSN,
                                   medfee_sumamt=Decimal("4837.00"), fund_pay_sumamt=Decimal("3869.60"),
                                   acct_pay=Decimal("967.40"), psn_cash_pay=Decimal("0.00"))
    name = reconciliation.detail_file_name(s.fixmedins_code, day, s.mdtrtarea_admvs)
    content = reconciliation.zipped(name, reconciliation.detail_text([row]))
    stored = reconciliation.FileRef(file_qury_no="M00/00/00/EXAMPLE", filename=f"{name}.zip")
    amounts = {"fund_pay_sumamt": Decimal("3869.60"), "psn_part_amt": Decimal("967.40"),
               "acct_pay": Decimal("967.40"), "psn_cash_pay": Decimal("0.00")}
    return {
        "1201": catalogue.institution_query_input(s.fixmedins_code),
        "7204": uploads.rx_review_input(hi_rxno="HX36011100301000000001", pharmacist=pharmacist, checker=checker,
                                        rx_chk_time="2025-11-20 09:30:30"),
        "7206": uploads.dispense_input(hi_rxno="HX36011100301000000001", pharmacist=pharmacist, checker=checker,
                                       download_ide_code="AUTH0000000001", setl_id="3601000012345678",
                                       setl_time="2025-11-20 09:31:05", sel_retn_time="2025-11-20 09:31:05",
                                       amounts=amounts, packs=[pack], insured=True),
        profile.uploads.sale_infno: uploads.sale_upload_input(profile, [wired]),
        "3506": uploads.sale_return_input(uploads.return_item(
            wired, sel_retn_time="2025-11-21 10:00:00", sel_retn_opter_name=item.sel_retn_opter_name,
            trace_form=profile.uploads.trace_form, setl_id=item.setl_id)),
        "3201": reconciliation.totals_input(insutype="310", clr_type="41", setl_optins=s.mdtrtarea_admvs, begin=day,
                                            end=day, medfee_sumamt=row.medfee_sumamt,
                                            fund_pay_sumamt=row.fund_pay_sumamt, acct_pay=row.acct_pay,
                                            fixmedins_setl_cnt=1),
        "9101": reconciliation.upload_input(profile, content=content, filename=stored.filename,
                                            fixmedins_code=s.fixmedins_code),
        "3202": reconciliation.detail_input(profile, setl_optins=s.mdtrtarea_admvs,
                                            file_qury_no=stored.file_qury_no, begin=day, end=day, rows=[row],
                                            clr_type="41"),
        "9102": reconciliation.download_input(stored, s.fixmedins_code),
        "9002": signin.sign_out_input("SIGN_NO", s.opter),
    }


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if key.endswith("certno") or key == "mdtrt_cert_no":       # the patient's and the pharmacists' ID numbers
        return mask_certno(str(value))
    if key in PERSON_NAMES:
        return mask_name(str(value))
    if key == "in":                                             # 9101's file: its size, not its rows
        return f"<{len(value)} {'characters' if isinstance(value, str) else 'bytes'}>"
    if key == "psn_no":
        return mask_psn_no(str(value))
    return format(value, "f") if isinstance(value, Decimal) else value


def check(client: GatewayClient) -> dict[str, Any]:
    """Sign in, then describe every transaction's message (see the module docstring)."""
    report: dict[str, Any] = {"profile": client.profile.name, "gateway": client.settings.url}
    sign_no = client.sign_in()
    report["sign_in"] = {"ok": True, "sign_no": sign_no,
                         "terminal": dict(zip(("ip", "mac"), client.terminal(), strict=True))}
    messages = {}
    for infno, input in sample_inputs(client).items():
        env = client.prepare(infno, input, insuplc_admdvs="360100", insutype="310")
        spec = client.profile.message(client.profile.wire_infno(infno))
        problems = check_input(spec, input) if spec else []
        messages[infno] = {"url": client.settings.endpoint(client.profile.wire_infno(infno)),
                           "recer_sys_code": env.body["recer_sys_code"], "ok": not problems,
                           "problems": problems, "envelope": _mask(env.body)}
    report["messages"] = messages
    return report


@click.group("gateway")
def gateway() -> None:
    """Try the gateway settings: sign in and show what each transaction would send."""


@gateway.command("check")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Store config file (TOML).")
@click.option("--data-dir", type=click.Path(file_okay=False), help="Where the ledger lives.")
def gateway_check(config_file, data_dir) -> None:
    """Sign in (9001) and print, masked, what every transaction would send; exit 1 if anything is incomplete."""
    from plugin.cli import _fail, _offline_service
    try:
        svc = _offline_service(config_file, data_dir, beside=True)
    except RxlaneError as exc:      # no gateway this ledger may reach (GATEWAY_NOT_RUNNING, GATEWAY_MISMATCH)
        _fail(exc)
    try:
        report = check(svc.upstream.client)
    except RxlaneError as exc:
        _fail(exc)
    except GatewayRefused as exc:
        _fail(refused(exc))
    except GatewayError as exc:
        _fail(unavailable(exc))
    finally:
        svc.ledger.close()
    click.echo(json.dumps(report, ensure_ascii=False, indent=2))
    sys.exit(0 if all(m["ok"] for m in report["messages"].values()) else 1)
