"""Uploads that follow a settlement (3505 sale, 3506 return, 7206 dispensing result) with retries across restarts.

The patient is done once settled; the uploads must still reach the insurer. Each row keeps one msgid for all its
attempts, so a retry after a lost answer is recognised by the insurer as the same message, not a second sale.
A message the insurer refuses is parked with the insurer's reason and shown in health — never dropped.
"""
from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta
from typing import Any

from adapters.nhsa import transactions as tx
from plugin.errors import RxlaneError
from plugin.crashpoints import crash_point
from plugin.ledger import Ledger, dumps, now
from plugin.upstream import OutcomeUnknown, Upstream

MAX_ATTEMPTS = 8
BASE_DELAY_S = 2.0
MAX_DELAY_S = 600.0
CODES_PER_MESSAGE = 100   # the traceability platform takes at most 100 codes per call (nhsa.md)


def backoff(attempts: int) -> float:
    return min(MAX_DELAY_S, BASE_DELAY_S * (2 ** max(0, attempts - 1)))


class Outbox:
    def __init__(self, ledger: Ledger, upstream: Upstream, *, opter: str = "", opter_name: str = ""):
        self.ledger = ledger
        self.upstream = upstream
        self.store_opter = opter
        self.store_opter_name = opter_name
        self._lock = threading.Lock()

    def depth(self) -> dict[str, Any]:
        row = self.ledger.query_one(
            "SELECT count(*) AS n, min(created_at) AS oldest FROM outbox WHERE state = 'pending'")
        parked = self.ledger.query_one("SELECT count(*) FROM outbox WHERE state = 'parked'")[0]
        oldest_age = None
        if row["oldest"]:
            oldest_age = int((datetime.now() - datetime.fromisoformat(row["oldest"])).total_seconds())
        return {"pending": row["n"], "parked": parked, "oldest_age_s": oldest_age}

    def rows(self, state: str | None = None) -> list[dict]:
        sql = "SELECT id, infno, sale_id, state, attempts, next_at, last_error, msgid, created_at FROM outbox"
        rows = self.ledger.query(sql + (" WHERE state = ?" if state else "") + " ORDER BY id",
                                 (state,) if state else ())
        return [dict(r) for r in rows]

    def retry(self, row_id: int | None = None) -> int:
        """Make parked or waiting rows due now (`rxlane outbox --retry`)."""
        with self.ledger.transaction() as c:
            sql = "UPDATE outbox SET state = 'pending', next_at = ? WHERE state IN ('pending', 'parked')"
            args: tuple = (now(),)
            if row_id is not None:
                sql += " AND id = ?"
                args += (row_id,)
            return c.execute(sql, args).rowcount

    def drain(self, batch: int = 50, max_rounds: int = 100) -> int:
        """Send due rows until none is left (each row once per call); returns how many were delivered."""
        if not self._lock.acquire(blocking=False):
            return 0
        try:
            delivered, tried = 0, set()
            for _ in range(max_rounds):
                due = [dict(r) for r in self.ledger.query(
                    "SELECT * FROM outbox WHERE state = 'pending' AND next_at <= ? ORDER BY id LIMIT ?",
                    (now(), batch + len(tried))) if r["id"] not in tried][:batch]
                if not due:
                    break
                for row in due:
                    tried.add(row["id"])
                    delivered += self._deliver(row)
            return delivered
        finally:
            self._lock.release()

    def _deliver(self, row: dict) -> bool:
        current = self.ledger.query_one("SELECT state FROM outbox WHERE id = ?", (row["id"],))
        if current is None or current[0] != "pending":
            return False    # superseded since this round began
        sale_id = row["sale_id"]
        try:
            payload, insuplc = self._payload(row["infno"], sale_id, json.loads(row["body_json"]))
            env = self.upstream.prepare(row["infno"], payload, insuplc_admdvs=insuplc, msgid=row["msgid"])
        except RxlaneError as exc:
            self._failed(row, exc.message, park=False)
            return False
        with self.ledger.transaction() as c:
            c.execute("UPDATE outbox SET msgid = ?, attempts = attempts + 1 WHERE id = ?", (env.msgid, row["id"]))
            self.ledger.journal_request(env.msgid, row["infno"], env.body, sale_id, conn=c, retry=True)
        crash_point("outbox.after_journal")
        try:
            answer = self.upstream.send_journaled(env)
            crash_point("outbox.after_send")
        except OutcomeUnknown:
            self._failed(row, "answer lost; will resend the same message", park=False)
            return False
        except RxlaneError as exc:
            if exc.code == "UPSTREAM_REFUSED" and self._dispensing_is_moot(row):
                return False
            # a refusal may be transient ("busy"): retry with backoff; after MAX_ATTEMPTS it is parked with the
            # insurer's reason, shown in health, never dropped
            self._failed(row, exc.details.get("err_msg") or exc.message, park=False)
            return False
        # not durable: if a power cut loses this, the same msgid is sent again and the insurer recognises it
        with self.ledger.transaction(durable=False) as c:
            self.ledger.journal_answer(env.msgid, "answered", answer=answer.raw, infcode=0, conn=c)
            c.execute("UPDATE outbox SET state = 'done', done_at = ?, last_error = NULL WHERE id = ?",
                      (now(), row["id"]))
        crash_point("outbox.after_answer")
        return True

    def _dispensing_is_moot(self, row: dict) -> bool:
        """A dispensing result (7206) refused for a sale that is refunded for good: the settlement it reports is
        cancelled, so it can never be accepted, and the prescription it would have closed is still open — the
        reopening message queued by the refund is moot too. Both are superseded instead of retried for ever."""
        if row["infno"] != "7206" or json.loads(row["body_json"]).get("cancel"):
            return False
        with self.ledger.transaction() as c:
            state = c.execute("SELECT state FROM sales WHERE id = ?", (row["sale_id"],)).fetchone()
            if state is None or state[0] != "refunded":
                return False
            c.execute("UPDATE outbox SET state = 'superseded', last_error = ? "
                      "WHERE sale_id = ? AND infno = '7206' AND state IN ('pending', 'parked')",
                      ("the settlement was refunded before the dispensing result was accepted", row["sale_id"]))
        return True

    def _failed(self, row: dict, error: str, *, park: bool) -> None:
        attempts = row["attempts"] + 1
        park = park or attempts >= MAX_ATTEMPTS
        next_at = (datetime.now() + timedelta(seconds=backoff(attempts))).isoformat(sep=" ", timespec="seconds")
        with self.ledger.transaction() as c:
            c.execute("UPDATE outbox SET state = ?, attempts = ?, next_at = ?, last_error = ? WHERE id = ?",
                      ("parked" if park else "pending", attempts, next_at, error[:500], row["id"]))

    # -- message bodies, built from the ledger at send time ---------------------------------------------------
    def _payload(self, infno: str, sale_id: str, body: dict) -> tuple[dict, str]:
        sale = self.ledger.query_one("SELECT * FROM sales WHERE id = ?", (sale_id,))
        person = json.loads(self.ledger.patient(sale["patient_ref"])["person_json"])
        if infno in ("3505", "3506"):
            return self._sale_upload(sale, infno, int(body.get("batch", 0))), person["insuplc_admdvs"]
        if infno == "7204":
            return tx.rx_review_input(hi_rxno=sale["hi_rxno"], phar_code=self.store_opter, phar_name=self.store_opter_name,
                                      rx_chk_stas_codg="1", rx_chk_opnn="审核通过",
                                      rx_chk_time=sale["setl_time"] or now()), person["insuplc_admdvs"]
        split = json.loads(sale["split_json"] or "{}")
        lines = self.ledger.query("SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY line_no", (sale_id,))
        codes = self._codes(sale_id)
        cancel = bool(body.get("cancel"))
        payload = tx.dispense_result_input(
            hi_rxno=sale["hi_rxno"], setl_id=sale["setl_id"] or "", setl_time=sale["setl_time"] or now(),
            cancel=cancel,
            selinfo=[{"med_list_codg": l["med_list_codg"], "drug_cnt": l["qty"], "trdn_flag": str(l["trdn_flag"]),
                      "drug_trac_codg": ",".join(codes.get(l["line_no"], []))} for l in lines])
        if not cancel:
            payload["data"].update({k: split.get(k, "0.00") for k in
                                    ("fund_pay_sumamt", "psn_part_amt", "acct_pay", "psn_cash_pay")})
        return payload, person["insuplc_admdvs"]

    def _codes(self, sale_id: str) -> dict[int, list[str]]:
        out: dict[int, list[str]] = {}
        for r in self.ledger.query("SELECT line_no, code FROM trace_codes WHERE sale_id = ? ORDER BY id",
                                   (sale_id,)):
            out.setdefault(r["line_no"], []).append(r["code"])
        return out

    def _sale_upload(self, sale, infno: str, batch: int) -> dict:
        """One message per 100 codes: batch N carries codes N*100..N*100+99 in line order, with their lines."""
        lines = self.ledger.query("SELECT * FROM sale_lines WHERE sale_id = ? ORDER BY line_no", (sale["id"],))
        flat = [(line_no, code) for line_no, codes in sorted(self._codes(sale["id"]).items()) for code in codes]
        mine = flat[batch * CODES_PER_MESSAGE:(batch + 1) * CODES_PER_MESSAGE]
        codes: dict[int, list[str]] = {}
        for line_no, code in mine:
            codes.setdefault(line_no, []).append(code)
        if batch == 0:
            lines = [l for l in lines if l["line_no"] in codes or not any(n == l["line_no"] for n, _ in flat)]
        else:
            lines = [l for l in lines if l["line_no"] in codes]
        rx = json.loads(sale["rx_json"]) if sale["rx_json"] else {}
        refund = json.loads(sale["refund_json"]) if sale["refund_json"] else {}
        items = []
        for l in lines:
            item = {
                "med_list_codg": l["med_list_codg"], "fixmedins_hilist_id": l["med_list_codg"],
                "fixmedins_hilist_name": l["drug_name"], "fixmedins_bchno": f"{sale['id']}-{l['line_no']}",
                "prsc_dr_cert_type": "", "prsc_dr_certno": "", "prsc_dr_name": rx.get("physician_name", ""),
                "phar_cert_type": "", "phar_certno": "", "phar_name": "", "phar_prac_cert_no": "",
                "hi_feesetl_type": "1", "setl_id": sale["setl_id"] or refund.get("setl_id", ""),
                "mdtrt_sn": sale["id"], "psn_no": sale["psn_no"], "psn_cert_type": "01", "certno": "",
                "psn_name": "", "manu_lotnum": "", "manu_date": "", "expy_end": "",
                "rx_flag": "1" if sale["hi_rxno"] else "0", "trdn_flag": str(l["trdn_flag"]),
                "finl_trns_pric": l["price"], "rxno": sale["hi_rxno"] or "",
                "rx_circ_flag": "1" if sale["hi_rxno"] else "0", "rtal_docno": sale["id"],
                "sel_retn_cnt": l["qty"], "sel_retn_time": sale["setl_time"] or now(),
                "sel_retn_opter_name": "", "mdtrt_setl_type": "1",
                "drugtracinfo": [{"drug_trac_codg": c} for c in codes.get(l["line_no"], [])],
            }
            if infno == "3506":
                item["medins_prod_sel_no"] = f"{sale['id']}-{l['line_no']}"
            items.append(item)
        return tx.sale_return_input(items) if infno == "3506" else tx.sale_upload_input(items)


def enqueue_sale_uploads(conn, sale_id: str, *, refund: bool) -> None:
    """3505/3506 and 7206 go through the outbox: the patient is done once settled; uploads retry."""
    n_codes = conn.execute("SELECT count(*) FROM trace_codes WHERE sale_id = ?", (sale_id,)).fetchone()[0]
    for batch in range(max(1, -(-n_codes // CODES_PER_MESSAGE))):
        conn.execute("INSERT INTO outbox (infno, sale_id, body_json, next_at, created_at) VALUES (?,?,?,?,?)",
                     ("3506" if refund else "3505", sale_id, dumps({"sale_id": sale_id, "batch": batch}),
                      now(), now()))
    row = conn.execute("SELECT hi_rxno FROM sales WHERE id = ?", (sale_id,)).fetchone()
    if row["hi_rxno"] and refund and _supersede_unsent_dispensing(conn, sale_id):
        return   # the prescription was never marked dispensed: there is nothing to reopen
    if row["hi_rxno"]:
        # the pharmacist's review (7204) precedes the dispensing result (7206); a refund only reopens the rx
        for infno in ((("7206",) if refund else ("7204", "7206"))):
            conn.execute("INSERT INTO outbox (infno, sale_id, body_json, next_at, created_at) "
                         "VALUES (?,?,?,?,?)", (infno, sale_id, dumps({"sale_id": sale_id, "cancel": refund}),
                                                now(), now()))


def _supersede_unsent_dispensing(conn, sale_id: str) -> bool:
    """A refund before the dispensing result (7206) reached the platform: that result must not be sent any more
    (the platform refuses it for a cancelled settlement, and then refuses the reopening too). Only a row that
    certainly did not arrive — never sent, or refused — is superseded; one whose answer is unknown is not."""
    rows = conn.execute(
        "SELECT o.id, o.msgid, j.state AS sent FROM outbox o LEFT JOIN journal j ON j.msgid = o.msgid "
        "WHERE o.sale_id = ? AND o.infno = '7206' AND o.state IN ('pending', 'parked')", (sale_id,)).fetchall()
    unsent = [r["id"] for r in rows if r["msgid"] is None or r["sent"] in ("refused", "unsent")]
    if not rows or len(unsent) != len(rows):
        return False
    conn.executemany("UPDATE outbox SET state = 'superseded', last_error = ? WHERE id = ?",
                     [("refunded before the dispensing result was delivered", i) for i in unsent])
    return True
