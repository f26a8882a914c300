"""The `patients` table: one row per person and credential, refreshed at each identification.

The POS only ever holds the row's ``patient_ref``; the unmasked credential stays here, where 2101/2102 need it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from plugin.store.db import Database, dumps, loads, now


@dataclass(frozen=True)
class PatientRow:
    patient_ref: str
    psn_no: str
    cert_type: str
    cert_no: str
    card_sn: str
    person: dict[str, Any]
    filings: list[dict[str, Any]]
    created_at: str


class PatientsTable:
    def __init__(self, db: Database):
        self.db = db

    def save(self, ref: str, psn_no: str, cert_type: str, cert_no: str, card_sn: str,
             person: dict[str, Any], filings: list[Any]) -> str:
        """Returns the patient_ref to use — the existing one when the patient was identified before."""
        with self.db.transaction(durable=False) as c:
            row = c.execute("SELECT patient_ref FROM patients WHERE psn_no = ? AND cert_type = ? AND cert_no = ? "
                            "AND card_sn = ?", (psn_no, cert_type, cert_no, card_sn)).fetchone()
            if row is not None:
                c.execute("UPDATE patients SET person_json = ?, filings_json = ? WHERE patient_ref = ?",
                          (dumps(person), dumps(filings), row[0]))
                return str(row[0])
            c.execute("INSERT INTO patients VALUES (?,?,?,?,?,?,?,?)",
                      (ref, psn_no, cert_type, cert_no, card_sn, dumps(person), dumps(filings), now()))
            return ref

    def get(self, ref: str) -> PatientRow | None:
        r = self.db.read_one("SELECT * FROM patients WHERE patient_ref = ?", (ref,))
        if r is None:
            return None
        return PatientRow(patient_ref=r["patient_ref"], psn_no=r["psn_no"], cert_type=r["cert_type"],
                          cert_no=r["cert_no"], card_sn=r["card_sn"], person=loads(r["person_json"]) or {},
                          filings=loads(r["filings_json"]) or [], created_at=r["created_at"])
