"""Names, card numbers and e-voucher tokens are masked in logs and in `rxlane journal`, as ID numbers always were
(docs/reliability.md, "Personal data"; plugin/privacy.py). Real logging through the service's formatter, a real
ledger read by the real command."""
from __future__ import annotations

import io
import json
import logging

from click.testing import CliRunner

from plugin.cli import main
from plugin.logs import formatter, get_logger
from plugin.store import Ledger

NAME, ID_NO, CARD, ECARD = "张伟", "360121196805122010", "A12345678", "ECARD7K2M9Q4T1X8B3N6Q"
VOUCHER_URL = "https://ybj.example.gov.cn/ec?qrcode=Q7K2M9Q4T1X8B3N6QZ"
API_TOKEN = "rxl_k2M9q4T1x8B3n6QzZ0aa"


def _logged(**fields) -> str:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter())
    logger = logging.getLogger("rxlane.test-pii")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        get_logger("rxlane.test-pii").info("identify", **fields)
        logging.getLogger("rxlane.test-pii").warning("upstream said %s", f"{NAME} {CARD} {ECARD}")
    finally:
        logger.removeHandler(handler)
    return out.getvalue()


def test_logs_mask_names_card_numbers_e_voucher_and_api_tokens_not_only_id_numbers():
    text = _logged(psn_name=NAME, certno=ID_NO, card_sn=CARD, mdtrt_cert_no=ECARD, url=VOUCHER_URL,
                   note=f"scanned {CARD} then {ECARD}", body=json.dumps({"psn_name": NAME, "card_no": CARD},
                                                                        ensure_ascii=False),
                   auth=f"Bearer {API_TOKEN}", nested={"patn_name": NAME, "list": [ID_NO]})
    for secret in (ID_NO, CARD, ECARD, "Q7K2M9Q4T1X8B3N6QZ", API_TOKEN):
        assert secret not in text, secret
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines[0]["psn_name"] == "张*" and lines[0]["certno"] == "3601**********2010"
    assert NAME not in lines[0]["body"] and lines[0]["nested"]["patn_name"] == "张*"


def test_journal_command_masks_names_card_numbers_and_tokens(tmp_path):
    ledger = Ledger(tmp_path / "ledger.sqlite3")
    ledger.journal.request("M3", "2102", {"input": {"data": {"psn_name": NAME, "mdtrt_cert_no": ECARD,
                                                             "certno": ID_NO, "card_sn": CARD}}}, None)
    ledger.journal.answer("M3", "answered", answer={"output": {"setlinfo": {"psn_name": NAME, "certno": ID_NO}}},
                          infcode=0)
    ledger.close()
    done = CliRunner().invoke(main, ["journal", "M3", "--data-dir", str(tmp_path)])
    assert done.exit_code == 0, done.output
    for secret in (NAME, ID_NO, CARD, ECARD):
        assert secret not in done.stdout, secret
    shown = json.loads(done.stdout)
    assert shown["body"]["input"]["data"]["psn_name"] == "张*"
    assert shown["answer"]["output"]["setlinfo"]["certno"] == "3601**********2010"
