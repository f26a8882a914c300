"""``rxlane policy``: compute a settlement split offline, and show the region policies it uses (docs/configuration.md).

``quote`` applies exactly the rules of the sandbox and the local estimate (``plugin.policy.split``), so a partner can
check a figure without a running service. Errors are the API's error object on stdout with exit status 2; a
traceback is never shown to a pharmacist or a partner's script.
"""
from __future__ import annotations

import json
import sys
from decimal import Decimal
from typing import Any
from collections.abc import Callable

import click

from plugin.errors import InvalidInput, RxlaneError
from plugin.policy import Policy, QuoteRequest, list_regions, load_policy, load_region, split

#: Chinese labels of the split object's fields, as a pharmacist reads them on a settlement slip.
LABELS: dict[str, str] = {
    "medfee_sumamt": "医疗费总额", "fulamt_ownpay_amt": "全自费", "overlmt_selfpay": "超限价自费",
    "preselfpay_amt": "先行自付", "inscp_scp_amt": "符合范围", "act_pay_dedc": "起付线",
    "hifp_pay": "医保统筹", "hifmi_pay": "大病保险", "hifob_pay": "大额医保", "maf_pay": "医疗救助",
    "oth_pay": "其他", "fund_pay_sumamt": "基金支付合计", "psn_part_amt": "个人负担", "acct_pay": "个人账户",
    "psn_cash_pay": "现金", "balc": "账户余额（结算后）",
}


def _emit_error(err: RxlaneError) -> None:
    click.echo(json.dumps(err.to_body(), ensure_ascii=False, indent=2))
    sys.exit(2)


def _guarded(fn: Callable[..., Any]) -> Any:
    """Run a command body so that every failure is an error object (exit 2), never a traceback."""
    try:
        return fn()
    except RxlaneError as err:
        _emit_error(err)
    except Exception as err:  # noqa: BLE001 — the promise is "no traceback ever"
        _emit_error(RxlaneError("INTERNAL", details={"type": type(err).__name__}))


def _policy(region: str | None, policy_file: str | None) -> Policy:
    if bool(region) == bool(policy_file):
        raise InvalidInput("give exactly one of --region NAME or --policy FILE", "请指定 --region 或 --policy 之一。",
                           field="region")
    return load_policy(policy_file) if policy_file else load_region(region)  # type: ignore[arg-type]


def _read_quote() -> QuoteRequest:
    try:
        # parse_float=Decimal keeps JSON numbers exact (1000.10 stays 1000.10, never a binary float)
        data = json.loads(sys.stdin.read(), parse_float=Decimal)
    except ValueError as err:  # includes UnicodeDecodeError: bytes that are not UTF-8
        raise InvalidInput(f"body: stdin is not valid JSON ({err})", "标准输入不是有效的 JSON。",
                           field="body") from None
    return QuoteRequest.from_mapping(data)


@click.group("policy")
def policy() -> None:
    """Region settlement policies and offline split quotes (政策与结算试算)."""


@policy.command("quote")
@click.option("--region", help="Region name, e.g. jiangxi (config/policies/<region>.toml).")
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="A policy TOML file instead.")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="json", show_default=True)
def quote(region: str | None, policy_file: str | None, fmt: str) -> None:
    """Split the quote JSON read from stdin (docs/configuration.md) into fund, account and cash."""
    def run() -> None:
        chosen = _policy(region, policy_file)
        result = split(chosen, _read_quote())
        if fmt == "json":
            click.echo(json.dumps(result.to_dict(), ensure_ascii=False, indent=2))
        else:
            _print_split_table(chosen, result.to_dict())
    _guarded(run)


@policy.command("show")
@click.argument("region", required=False)
@click.option("--policy", "policy_file", type=click.Path(dir_okay=False), help="A policy TOML file instead.")
@click.option("--format", "fmt", type=click.Choice(["json", "table"]), default="table", show_default=True)
def show(region: str | None, policy_file: str | None, fmt: str) -> None:
    """Print a region's parameters and the document they come from."""
    def run() -> None:
        chosen = _policy(region, policy_file)
        if fmt == "json":
            click.echo(json.dumps(chosen.to_mapping(), ensure_ascii=False, indent=2))
        else:
            _print_policy(chosen)
    _guarded(run)


@policy.command("list")
def list_() -> None:
    """The regions shipped in config/policies/."""
    def run() -> None:
        for name in list_regions():
            p = load_region(name)
            click.echo(f"{name}\t{p.name}\t{p.source}")
    _guarded(run)


# --- human output ------------------------------------------------------------------------------------------------

def _console():
    from rich.console import Console
    return Console(soft_wrap=True, highlight=False)


def _print_split_table(chosen: Policy, body: dict[str, Any]) -> None:
    from rich.table import Table
    console = _console()
    lines = Table(title=f"{chosen.name} 结算试算（{chosen.source}）")
    for head in ("药品编码", "可报销", "金额", "全自费", "超限价", "先行自付", "符合范围"):
        lines.add_column(head, justify="left" if head in ("药品编码", "可报销") else "right", no_wrap=True)
    lines.add_column("原因", overflow="fold")
    for line in body["lines"]:
        lines.add_row(line["med_list_codg"], "是" if line["eligible"] else "否", line["line_total"],
                      line["fulamt_ownpay_amt"], line["overlmt_selfpay"], line["preselfpay_amt"],
                      line["inscp_scp_amt"], "；".join(r["message_zh"] for r in line["reasons"]))
    totals = Table(show_header=True)
    totals.add_column("项目")
    totals.add_column("字段")
    totals.add_column("金额（元）", justify="right")
    for key, label in LABELS.items():
        totals.add_row(label, key, body[key])
    console.print(lines)
    console.print(totals)


def _print_policy(p: Policy) -> None:
    from rich.table import Table
    console = _console()
    console.print(f"{p.name} ({p.region})  依据 source: {p.source}  区划 admdvs: {p.admdvs}")
    console.print(f"超支付标准 price_above_standard: {p.price_above_standard}   "
                  f"个人账户 account_covers: {p.account_covers}   "
                  f"退出过渡期 exit_transition_days: {p.exit_transition_days}")
    cats = Table(title="类别 categories")
    cats.add_column("类别")
    cats.add_column("药店结算 pharmacy")
    cats.add_column("先行自付 prepay_ratio")
    for name, rule in p.categories.items():
        cats.add_row(name, "是" if rule.pharmacy else "否", str(rule.prepay_ratio))
    console.print(cats)
    if p.deductible.by_level is not None:
        levels = "，".join(f"{lv}级 {amt}" for lv, amt in p.deductible.by_level.items())
        console.print(f"起付线 deductible（按定点医院等级，每年一次）: {levels}")
    else:
        console.print(f"起付线 deductible（每年一次）: {p.deductible.amount}")
    funds = Table(title="基金 funds by insutype")
    for head in ("险种 insutype", "统筹比例 ratio", "年度限额 annual_cap", "补充 supplementary"):
        funds.add_column(head)
    for insutype, ratio in p.ratio.items():
        s = p.supplementary.get(insutype)
        extra = "—" if s is None else (
            f"大额 after_fund_cap ratio {s.ratio} cap {s.cap}" if s.kind == "after_fund_cap"
            else f"大病 after_selfpay_threshold threshold {s.threshold} ratio {s.ratio} cap {s.cap}")
        funds.add_row(insutype, str(ratio), str(p.annual_cap[insutype]), extra)
    console.print(funds)


if __name__ == "__main__":
    policy()
