"""One line judge for the counter (``LineJudge``) — the sale and the prescription view judge a line the same way —
and the reading of an insurer's refusal back into the same reason codes.

The facts come from where a real store has them (docs/data-sources.md): the patient and their 5301 filings and 5302
registrations as the gateway answered, the downloaded prescription, the province's list entry. What is missing is
left unknown by the rules (plugin/eligibility.py). When the insurer refuses a pre-settlement or settlement, the
gateway profile's pattern table turns its text into a reason code, and the line it names (or every insured line)
takes that reason — so the pharmacist reads the same reason whoever decided it, with the insurer's words beside it.
"""
from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any
from collections.abc import Iterable

from adapters.nhsa.profile import GatewayProfile
from plugin import eligibility as rules
from plugin.policy import Policy
from plugin.sale import SaleLine


class LineJudge:
    """The verdicts on the lines of one patient's purchase: the patient, their filings and the prescription are
    read into the rules' types once (on the first line), not once per line. ``__call__`` judges one line."""

    def __init__(self, *, policy: Policy, pharmacy_admdvs: str, today: date, person: dict[str, Any],
                 filings: list[dict[str, Any]], rx: dict[str, Any] | None, list_known: bool):
        self._policy, self._pharmacy_admdvs, self._today = policy, pharmacy_admdvs, today
        self._person, self._filings, self._rx, self._list_known = person, filings, rx, list_known
        self._facts: tuple[rules.Patient, list[rules.Filing], rules.Prescription | None] | None = None

    def __call__(self, *, entry: dict[str, Any] | None, price: Decimal, donated: bool) -> rules.Verdict:
        if self._facts is None:
            person, rx = self._person, self._rx
            self._facts = (rules.Patient(psn_no=person["psn_no"], insuplc_admdvs=person["insuplc_admdvs"]),
                           [rules.Filing.from_mapping(f) for f in self._filings],
                           rules.Prescription.from_mapping(rx) if rx else None)
        patient, filings, prescription = self._facts
        registrations = self._person.get("registrations")
        verdict = rules.judge_line(
            patient=patient, filings=filings, prescription=prescription,
            entry=rules.CatalogEntry.from_mapping(entry) if entry else None, policy=self._policy, price=price,
            donated=donated, today=self._today, pharmacy_admdvs=self._pharmacy_admdvs, list_known=self._list_known,
            registrations=tuple(registrations) if registrations else None)
        if self._rx is None and not donated and "NOT_IN_CATALOG" not in verdict.reasons:
            # a dual-channel drug is paid at a pharmacy only against a circulated prescription (医保函〔2021〕182号
            # §五; the insurer refuses a line without `rxno`): without one the line is not on any prescription
            reasons = tuple(c for c in rules.REASON_ORDER if c in (*verdict.reasons, "NOT_ON_PRESCRIPTION"))
            return rules.Verdict(reasons, verdict.unknown)
        return verdict


def refused_lines(profile: GatewayProfile, err_msg: str, lines: Iterable[SaleLine]) -> tuple[str | None, list[int]]:
    """(the reason code the insurer's refusal text means, the insured lines it concerns): the line whose national
    code the text names, else every insured line. (None, []) when no pattern of the profile matches."""
    code = profile.refusal_reason(err_msg)
    if code is None:
        return None, []
    insured = [ln for ln in lines if ln.insured]
    named = [ln.line_no for ln in insured if ln.med_list_codg and ln.med_list_codg in (err_msg or "")]
    return code, named or [ln.line_no for ln in insured]
