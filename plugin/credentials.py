"""The patient's credential (就诊凭证), normalised in one place for every path that identifies a patient — the POS's
``/v1/patients/identify``, a scan, a card read — before anything is sent to the insurer.

- ``02`` resident ID number (GB 11643): spaces removed, the check character upper-case ``X``; a number whose check
  digit is wrong is refused here with ``ID_NUMBER_INVALID`` and never sent as an ID (a mistyped or mis-scanned
  number would otherwise look up somebody else, or nobody).
- ``03`` social-security card: the card number upper-case; the card identification code (``card_sn``) is required —
  it is read from the card's chip by a reader and cannot be typed from the card face.
- ``01`` e-voucher: the QR value as scanned (decoded by the e-voucher service, never sent as a token).
"""
from __future__ import annotations

from dataclasses import dataclass

from plugin.errors import InvalidInput, RxlaneError
from plugin.scanhints import hint, id_number_plausible

E_VOUCHER, ID_NUMBER, SS_CARD = "01", "02", "03"


@dataclass(frozen=True)
class Credential:
    """How the patient identifies: ``cert_type`` 01 e-voucher QR value, 02 ID number, 03 social-security card number
    (with the card's ``card_sn``). ``psn_name`` optional (the insurer checks it against the credential)."""
    cert_type: str
    cert_no: str
    card_sn: str = ""
    psn_name: str = ""


def valid_id_number(number: str) -> bool:
    """18 characters, the GB 11643 check character and a real birth date (plugin/scanhints.py). Not the
    birthplace: the first six digits are the county code when the number was issued, and python-stdnum's
    ``is_valid`` requires that county to have existed in the birth year — 东湖区 (360102) dates from 1983, so every
    Nanchang patient born before 1983 would be refused. Whether the person exists is the insurer's answer."""
    return id_number_plausible(number)


def normalise(cred: Credential) -> Credential:
    """The credential as it is sent; raises ``ID_NUMBER_INVALID`` or ``INVALID_INPUT`` (nothing is sent)."""
    no = "".join(cred.cert_no.split())
    if cred.cert_type == ID_NUMBER:
        no = no.upper()
        if not valid_id_number(no):
            raise RxlaneError("ID_NUMBER_INVALID", details={"field": "cert_no", "length": len(no)})
        return Credential(ID_NUMBER, no, "", cred.psn_name.strip())
    if cred.cert_type == SS_CARD:
        sn = "".join(cred.card_sn.split()).upper()
        if not sn:
            # without it the insurer can only answer "not found", which would send the pharmacist looking for
            # the wrong fault
            needed = hint("card_sn_needed")
            raise InvalidInput(needed.message, needed.message_zh, field="card_sn")
        return Credential(SS_CARD, no.upper(), sn, cred.psn_name.strip())
    if cred.cert_type == E_VOUCHER:
        if not no:
            raise InvalidInput("The e-voucher QR value is empty.", "医保电子凭证二维码内容为空，请重新扫码。",
                               field="cert_no")
        return Credential(E_VOUCHER, no, "", cred.psn_name.strip())
    raise InvalidInput(f"Unknown credential type {cred.cert_type!r}.", "证件类型不正确。", field="cert_type")
