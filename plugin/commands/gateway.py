"""`rxlane gateway check` — try a store's settings against a province's gateway without a sale.

It signs in (9001) for real, then shows, for every transaction of the gateway profile, the URL it goes to, the
receiver code, and the envelope rxlane would send — built by the same builders as a real sale from placeholder
values, personal fields masked — checked against the profile's required fields. Nothing but 9001 is sent.
"""
from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any

import click

from adapters.nhsa import catalogue, person, prescriptions, settlement
from adapters.nhsa.client import GatewayClient
from adapters.nhsa.errors import GatewayError, GatewayRefused
from adapters.nhsa.profile import check_input
from plugin.errors import RxlaneError
from plugin.privacy import mask_certno, mask_name, mask_psn_no
from plugin.upstream import refused, unavailable

PSN, CERT, NAME = "36000000000000000001", "360102196803152049", "张晓梅"


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
        "7203": prescriptions.rx_download_input(insuplc_admdvs=s.mdtrtarea_admvs, auth_rxno="AUTH0000000001"),
    }


def _mask(value: Any, key: str = "") -> Any:
    if isinstance(value, dict):
        return {k: _mask(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v, key) for v in value]
    if key in ("certno", "mdtrt_cert_no"):
        return mask_certno(str(value))
    if key in ("psn_name", "patn_name"):
        return mask_name(str(value))
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
    svc = _offline_service(config_file, data_dir)
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
