"""The `prescriptions` table: circulated prescriptions as downloaded (7203), once each — the platform's
authorisation number is single use, so the copy kept here is the one every later step (the sale, the review and
dispensing uploads) reads."""
from __future__ import annotations

from typing import Any

from plugin.store.db import Database, dumps, loads, now


class PrescriptionsTable:
    def __init__(self, db: Database):
        self.db = db

    def keep(self, hi_rxno: str, patient_ref: str, psn_no: str, download_ide_code: str, rx: dict[str, Any]) -> None:
        """Keep a downloaded prescription (a second download of the same prescription replaces the copy)."""
        with self.db.transaction(durable=False) as c:
            c.execute("INSERT OR REPLACE INTO prescriptions VALUES (?,?,?,?,?,?)",
                      (hi_rxno, patient_ref, psn_no, download_ide_code, dumps(rx), now()))

    def get(self, hi_rxno: str) -> dict[str, Any] | None:
        row = self.db.read_one("SELECT rx_json FROM prescriptions WHERE hi_rxno = ?", (hi_rxno,))
        return loads(row[0]) if row else None

    def of_patient(self, patient_ref: str) -> list[dict[str, Any]]:
        return [loads(r[0]) for r in self.db.read(
            "SELECT rx_json FROM prescriptions WHERE patient_ref = ? ORDER BY downloaded_at DESC, hi_rxno",
            (patient_ref,))]
