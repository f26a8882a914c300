"""Fleet fixtures: chain layers, and a month of sales in a real ledger (inventories: plugin.fleet.simulate)."""
from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

import pytest

from plugin.money import fen, wire


@pytest.fixture
def chain_file(tmp_path) -> Path:
    path = tmp_path / "chain.toml"
    path.write_text('[server]\ndata_dir = "/var/lib/rxlane"\n[nhsa]\nurl = "https://gw.example.cn"\ntimeout_s = 20\n',
                    encoding="utf-8")
    return path


# -- a month of sales written straight into a ledger (this test data is ours; the sales code is not involved) ----
DRUGS = [("XJ01", "奥希替尼", "B", "5000.00"), ("XJ02", "阿来替尼", "B", "3120.50"),
         ("XJ03", "司库奇尤单抗", "A", "1188.00"), ("XJ04", "依洛尤单抗", "A", "283.33"),
         ("XJ05", "托法替布", "C", "1.99"), ("XJ06", "恩格列净", "A", "77.77")]
INSTITUTIONS = [("H36010000001", "江西省人民医院"), ("H36010000002", "南昌大学第一附属医院"), ("", "")]


def insert_sale(ledger, sale_id: str, day: str, state: str, psn_no: str, lines: list[tuple], inst: tuple,
                rng: random.Random) -> dict:
    """One sale with its lines and an insurer split that keeps fund + acct + cash = medfee."""
    medfee = sum((fen(Decimal(price) * Decimal(qty)) for _, _, _, price, qty in lines), Decimal("0"))
    inscope = [fen(Decimal(p) * Decimal(q)) * (0 if c == "C" else 1) for _, _, c, p, q in lines]
    fund = fen(sum(inscope, Decimal("0")) * Decimal("0.8"))
    acct = min(fen(Decimal(rng.randint(0, 30000)) / 100), medfee - fund)
    split = {"medfee_sumamt": wire(medfee), "fund_pay_sumamt": wire(fund), "acct_pay": wire(acct),
             "psn_cash_pay": wire(medfee - fund - acct),
             "lines": [{"med_list_codg": code, "line_total": wire(Decimal(p) * Decimal(q)), "inscp_scp_amt": wire(s)}
                       for (code, _, _, p, q), s in zip(lines, inscope, strict=True)]}
    rx = {"hi_rxno": f"RX{sale_id}", "institution_code": inst[0], "institution_name": inst[1]} if inst[0] else None
    with ledger.transaction() as c:
        c.execute("INSERT INTO sales (id, created_at, updated_at, biz_date, state, patient_ref, psn_no, insutype, "
                  "hi_rxno, rx_json, acct_used, medfee_sumamt, split_json) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                  (sale_id, f"{day} 10:00:00", f"{day} 10:05:00", day, state, "ref", psn_no, "310",
                   rx and rx["hi_rxno"], json.dumps(rx, ensure_ascii=False) if rx else None, 1, wire(medfee),
                   json.dumps(split)))
        for no, (code, name, cat, price, qty) in enumerate(lines, 1):
            c.execute("INSERT INTO sale_lines (sale_id, line_no, med_list_codg, generic_name, drug_name, spec, "
                      "category, qty, price, payment_standard, line_total, donated, eligible, reasons_json) "
                      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                      (sale_id, no, code, name, name, "1盒", cat, qty, price, price,
                       wire(Decimal(price) * Decimal(qty)), 0, 1, "[]"))
    return split


def fill_month(ledger, month: str = "2026-11", seed: int = 7, days: int = 30) -> None:
    """About 300 sales over the month in every state, plus sales just outside it and insurer refusals."""
    rng = random.Random(seed)
    states = ["settled"] * 8 + ["refunded", "in_doubt", "draft", "reversed"]
    n = 0
    for day in range(1, days + 1):
        for _ in range(rng.randint(5, 15)):
            n += 1
            lines = [(*rng.choice(DRUGS), rng.choice(["1", "2", "3", "0.5"])) for _ in range(rng.randint(1, 3))]
            insert_sale(ledger, f"S{n:05d}", f"{month}-{day:02d}", rng.choice(states), f"PSN{rng.randint(1, 60):04d}",
                        lines, rng.choice(INSTITUTIONS), rng)
    insert_sale(ledger, "OUT-BEFORE", "2026-10-31", "settled", "PSN0001", [(*DRUGS[0], "1")], INSTITUTIONS[0], rng)
    insert_sale(ledger, "OUT-AFTER", "2026-12-01", "settled", "PSN0001", [(*DRUGS[0], "1")], INSTITUTIONS[0], rng)
    for i, (msg, when) in enumerate([("处方已失效", "2026-11-03 09:00:00"), ("处方已失效", "2026-11-20 11:00:00"),
                                     ("余额不足", "2026-11-21 12:00:00"), ("处方已失效", "2026-12-01 00:00:00")]):
        ledger.journal.request(f"M{i}", "2102", {"i": i}, None)
        ledger.journal.answer(f"M{i}", "refused", infcode=-1, err_msg=msg)
        with ledger.transaction() as c:
            c.execute("UPDATE journal SET created_at = ? WHERE msgid = ?", (when, f"M{i}"))


@pytest.fixture
def month_ledger(tmp_path):
    from plugin.store import Ledger
    ledger = Ledger(tmp_path / "data" / "ledger.sqlite3")
    fill_month(ledger)
    yield ledger
    ledger.close()


@pytest.fixture
def fill_ledger():
    """`fill_ledger(ledger)` writes the month of sales above into any ledger (e.g. a running service's)."""
    return fill_month
