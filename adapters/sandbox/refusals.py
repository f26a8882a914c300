"""The sandbox insurer's refusal texts for 2101/2102, one per rxlane reason code (docs/sandbox.md "Refusal texts").

When a line fails a 三定 rule the insurer refuses the whole message with ``药品{med_list_codg}：{text}``. Each text
is written so that the national gateway profile's ``[refusals]`` pattern table (config/gateways/national.toml) maps
it back to the same reason code — a contract test holds every text against the profile — so rxlane shows the
pharmacist the same reason whether it decided the rule itself or the insurer refused.
"""
from __future__ import annotations

from decimal import Decimal

TEXTS: dict[str, str] = {
    "NOT_IN_CATALOG": "药品不在医保双通道药品目录内",
    "CATEGORY_EXCLUDED": "该药品类别不纳入定点药店双通道结算",
    "AGREEMENT_EXPIRED": "该药品谈判协议期已届满且已过过渡期，医保基金不予支付",
    "NO_FILING": "参保人未备案该药品（无有效的门诊慢特病备案）",
    "FILING_NOT_STARTED": "参保人该药品备案尚未生效",
    "FILING_EXPIRED": "参保人该药品备案已过期",
    "INSTITUTION_MISMATCH": "处方开具机构与备案定点医疗机构不符",
    "PHYSICIAN_NOT_RESPONSIBLE": "开方医师不是参保人备案的责任医师，与备案信息不符",
    "REVIEW_PENDING": "该药品备案待医院医保办复核",
    "CROSS_REGION_REVIEW_PENDING": "异地参保人员备案未经参保地医保经办机构审核同意",
    "NOT_ON_PRESCRIPTION": "该药品不在处方所列药品中",
    "RX_PATIENT_MISMATCH": "处方不属于该参保人",
    "RX_REVOKED": "处方已撤销",
    "RX_ALREADY_DISPENSED": "处方已核销（已取药），不能重复结算",
    "RX_EXPIRED": "处方已超过有效期",
    "PRICE_ABOVE_STANDARD": "销售价格高于医保支付标准",
    "DONATED_SUPPLY": "无偿供药费用医保基金不予支付",
}


def refusal_text(code: str, med_list_codg: str, *, payment_standard: Decimal | None = None) -> str:
    """The err_msg of a 2101/2102 refused for ``code`` on the line of ``med_list_codg``."""
    text = TEXTS[code]
    if code == "PRICE_ABOVE_STANDARD" and payment_standard is not None:
        text += f"（医保支付标准{payment_standard:.2f}元）"
    return f"药品{med_list_codg}：{text}"
