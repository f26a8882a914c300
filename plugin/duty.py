"""Who is on duty at this counter: the pharmacist (审方/配药) and the checking pharmacist (复核/核对) the uploads name
(docs/reconciliation.md). The counter page sets them at sign-in from the store's roster (``[[pharmacists]]``);
every change is in the audit trail. A sale keeps who was on duty when it was settled."""
from __future__ import annotations

from typing import Any

from plugin.config import PharmacistSettings
from plugin.errors import RxlaneError
from plugin.privacy import mask_certno
from plugin.store import Ledger
from plugin.store.duty import ROLES


def _shown(person: dict[str, Any]) -> dict[str, Any]:
    return {**person, "certno": mask_certno(person.get("certno", ""))}


def view(ledger: Ledger, roster: list[PharmacistSettings]) -> dict[str, Any]:
    """``{roster: [...], on_duty: {pharmacist, checker}}``, ID numbers masked."""
    duty = ledger.duty.current()
    return {"roster": [{"name": p.name, "prac_cert_no": p.prac_cert_no, "cert_type": p.cert_type,
                        "certno": mask_certno(p.certno)} for p in roster],
            "on_duty": {role: _shown(duty[role]) if role in duty else None for role in ROLES}}


def change(ledger: Ledger, roster: list[PharmacistSettings], changes: dict[str, str | None]) -> dict[str, Any]:
    """Put the roster's pharmacists (by licence number) on duty, or a role off duty (None)."""
    staff: dict[str, dict[str, Any] | None] = {}
    for role, licence in changes.items():
        if licence is None:
            staff[role] = None
            continue
        found = next((p for p in roster if p.prac_cert_no == licence), None)
        if found is None:
            raise RxlaneError("PHARMACIST_UNKNOWN", details={"role": role, "prac_cert_no": licence[:50]})
        staff[role] = {"name": found.name, "certno": found.certno, "cert_type": found.cert_type,
                       "prac_cert_no": found.prac_cert_no}
    with ledger.transaction() as c:
        for role, record in staff.items():
            ledger.duty.set(c, role, record)
        ledger.audit.append("duty", None, {role: (r or {}).get("prac_cert_no") for role, r in staff.items()},
                            conn=c)
    return view(ledger, roster)
