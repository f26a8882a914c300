"""The one catalogue of error codes rxlane can answer, with English and Chinese messages, and the typed refusals.

POS vendors build against these codes (docs/pos-integration.md, "Errors"): a code, once published, keeps its
meaning. Every refusal a pharmacist can meet is here with a sentence that says what to do next. This module sits
below HTTP and imports nothing from Flask, the ledger or the gateway adapter, so that the pure rule modules
(policy, eligibility, tracecode), the ledger, the configuration and the sandbox raise the same errors; the API
turns them into JSON in one place (plugin/api/http.py).

Callers that must tell refusals apart catch them by type, not by comparing code strings::

    RxlaneError
    ├── InvalidInput, NotFound, InvalidState
    ├── UpstreamRefused        the insurer said no (infcode != 0): nothing moved; carries infcode and err_msg
    ├── UpstreamUnavailable    the insurer could not be asked, or answered unreadably where nothing moved
    ├── SettlementInDoubt      a money-moving message went out and no usable answer came back
    └── TraceCodeError         a pack's code was refused (TRACE_CODE_* codes)
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ErrorSpec:
    code: str
    http_status: int
    message: str
    message_zh: str


def _spec(code: str, status: int, en: str, zh: str) -> ErrorSpec:
    return ErrorSpec(code, status, en, zh)


#: Errors of the API itself.
ERRORS: dict[str, ErrorSpec] = {s.code: s for s in [
    _spec("INVALID_INPUT", 400, "The request is not valid.", "请求内容不正确，请检查后重试。"),
    _spec("NOT_FOUND", 404, "No such resource.", "未找到该记录。"),
    _spec("METHOD_NOT_ALLOWED", 405, "This method is not allowed here.", "不支持该请求方式。"),
    _spec("PAYLOAD_TOO_LARGE", 413, "The request body is too large.", "请求内容过大。"),
    _spec("UNAUTHORIZED", 401, "A valid API token is required.", "需要有效的接口令牌。"),
    _spec("FORBIDDEN", 403, "This token may not do that.", "该令牌无权执行此操作。"),
    _spec("RATE_LIMITED", 429, "Too many requests; wait a moment.", "请求过于频繁，请稍后再试。"),
    _spec("IDEMPOTENCY_CONFLICT", 409,
          "This Idempotency-Key was already used with a different request.",
          "该幂等键已用于另一笔不同的请求，请使用新的幂等键。"),
    _spec("INVALID_STATE", 409, "The sale is not in a state that allows this.",
          "当前销售单状态不允许此操作。"),
    _spec("PATIENT_NOT_FOUND", 404, "The insurer does not know this patient.",
          "医保系统中未查到该参保人，请核对证件号码或让患者出示医保电子凭证。"),
    _spec("DRUG_NOT_FOUND", 404, "The drug code is not in the insurer's catalogue.",
          "医保目录中没有该药品编码，请核对药品。"),
    _spec("UPSTREAM_REFUSED", 502, "The insurer refused the request.", "医保中心拒绝了该请求。"),
    _spec("UPSTREAM_UNAVAILABLE", 503, "The insurer cannot be reached; nothing was charged.",
          "医保中心暂时无法连接，未发生扣费，请稍后重试。"),
    _spec("ACCOUNT_REQUIRED", 422,
          "This region's rules pay the personal part from the personal account first: it cannot be left out.",
          "本地区规定个人自付部分先由个人账户支付，不能关闭个人账户。"),
    _spec("PARTIAL_REFUND_UNSUPPORTED", 422,
          "Only a whole sale can be refunded: the insurer cancels a settlement as a whole (2103).",
          "医保结算只能整单撤销：请退整单后，再为患者保留的药品重新结算。"),
    _spec("SETTLEMENT_IN_DOUBT", 409,
          "The settlement's outcome is unknown; it is being resolved with the insurer. Do not settle again.",
          "结算结果未知，系统正在与医保中心核实（冲正），请勿重复结算，稍候查看结果。"),
    _spec("PRICE_ABOVE_STANDARD", 422,
          "The price is above the negotiated payment standard.",
          "销售价格高于国家谈判支付标准，不得超标准销售，请按支付标准调整价格。"),
    _spec("LINES_INELIGIBLE", 422,
          "Some lines cannot be settled by the insurance fund.",
          "部分药品不符合医保支付条件，请查看原因；如患者同意全自费，请确认后再结算。"),
    _spec("TRACE_CODE_INVALID", 400, "The traceability code is not valid.",
          "药品追溯码格式不正确，请重新扫描药盒上的追溯码。"),
    _spec("TRACE_CODE_ALREADY_SOLD", 409, "This pack was already sold.",
          "该追溯码对应的药品已售出，同一盒药不能重复销售。"),
    _spec("TRACE_CODE_CASE_VARIANT", 409,
          "This pack's code differs from a pack on another sale only by letter case (Caps Lock?); it is most likely "
          "the same box.",
          "该追溯码与其他销售单中的药盒仅字母大小写不同（可能开启了大写锁定），很可能是同一盒药；请关闭大写锁定后重新扫描。"),
    _spec("TRACE_CODE_PRODUCT_MISMATCH", 422, "This pack belongs to another drug.",
          "扫描的药盒与该行药品不一致，请扫描正确药品的追溯码。"),
    _spec("TRACE_CODE_DUPLICATE", 409, "This pack was scanned twice for this sale.",
          "该追溯码在本单中已扫描过，请勿重复扫描同一盒药。"),
    _spec("TRACE_CODE_NOT_ON_SALE", 404, "This code is not on the sale.", "本单中没有该追溯码。"),
    _spec("TRACE_CODE_USED_UP", 409, "This split (拆零) pack is used up.",
          "该拆零药盒已全部售完，请扫描新的药盒。"),
    _spec("TRACE_CODE_COUNT_MISMATCH", 422, "The number of scanned packs does not match the quantity.",
          "扫描的追溯码数量与销售数量不一致，请每盒扫描一次。"),
    _spec("TRACE_CODE_EXPIRED", 422, "This pack is past its expiry date.",
          "该药品已过有效期，不得销售。"),
    _spec("ID_NUMBER_INVALID", 422,
          "This is not a valid resident ID number (its check digit is wrong); nothing was sent.",
          "身份证号码校验位不正确，请核对号码后重新输入，或改用社保卡/医保电子凭证。"),
    _spec("EVOUCHER_REFUSED", 422,
          "The e-voucher QR code was refused by the decode service (unknown, expired or used).",
          "医保电子凭证二维码无效或已过期，请患者在手机上刷新电子凭证后重新扫码。"),
    _spec("EVOUCHER_UNAVAILABLE", 503, "The e-voucher decode service cannot be reached; nothing was charged.",
          "医保电子凭证服务暂时无法使用，请稍后重试，或改用身份证、社保卡识别患者。"),
    _spec("RX_NOT_DOWNLOADED", 409,
          "This prescription was not downloaded for this patient; list the patient's prescriptions first.",
          "尚未下载该处方：请先识别患者并查询其流转处方，再按处方开单。"),
    _spec("GATEWAY_MESSAGE_INCOMPLETE", 422,
          "The message to the insurer lacks fields its interface requires; nothing was sent.",
          "发往医保中心的报文缺少必填项，未发送，请补全后重试。"),
    _spec("PASSWORD_REQUIRED", 422, "This province requires the patient's e-voucher or card password to settle.",
          "本省医保结算需要患者输入医保电子凭证或社保卡密码，请患者输入密码后再结算。"),
    _spec("PRINTER_UNAVAILABLE", 409, "No printer is configured, or printing failed.",
          "未配置打印机或打印失败，请检查打印机电源和连接。"),
    _spec("LIST_INVALID", 422, "The dual-channel list has bad rows or columns; nothing was imported.",
          "双通道药品目录存在错误的行或列，未导入任何内容，原目录继续使用。请按行号修改后重新导入。"),
    _spec("LIST_UNREADABLE", 422, "The file is not a readable CSV or XLSX dual-channel list; nothing was imported.",
          "无法读取该双通道药品目录文件（格式、编码或内容有误），未导入任何内容，原目录继续使用。"),
    _spec("STORE_UNKNOWN", 401, "No enrolled store has this token.",
          "总部未登记该门店令牌，请用 rxlane hq enroll 重新登记门店。"),
    _spec("STORE_REVOKED", 403, "This store's token was revoked at headquarters.",
          "该门店令牌已被总部吊销，请联系总部信息部门重新登记。"),
    _spec("HEARTBEAT_REPLAYED", 409, "Headquarters already has this heartbeat (same store and sequence number).",
          "总部已收到该序号的心跳，不会重复记录。"),
    _spec("HEARTBEAT_OUT_OF_ORDER", 409, "Headquarters already has a newer heartbeat from this store.",
          "总部已收到该门店更新的心跳，旧序号的心跳不再记录。"),
    _spec("REPORT_CONFLICT", 409,
          "Headquarters already has this month's report with other figures; this one was kept and flagged.",
          "总部已收到该月份数字不同的月报：本次月报已保存并标记待核对，未覆盖原月报。"),

    _spec("CARD_NOT_PRESENT", 409, "No card in the reader; insert or tap the card and read again.",
          "读卡器上没有社保卡，请插入或放置社保卡后重新读卡。"),
    _spec("CARD_UNREADABLE", 422, "The card could not be read (wrong card type, no answer, or it failed "
          "authentication).", "社保卡无法读取，请重新插卡；仍失败请患者到社保经办机构检测卡片。"),
    _spec("CARD_READER_UNAVAILABLE", 503, "The card reader is not connected or not set up.",
          "读卡器未连接或配置有误，请检查读卡器的连接和电源后重试。"),
    _spec("CARD_PIN_REJECTED", 422, "The card password is wrong.", "社保卡密码错误，请患者重新输入。"),
    _spec("CARD_PIN_LOCKED", 422, "The card password is locked.", "社保卡密码已锁定，请患者到社保经办机构解锁。"),
    _spec("CARD_PIN_CANCELLED", 409, "The password entry was cancelled or timed out.",
          "密码输入已取消或超时，请让患者重新输入密码。"),
    _spec("DEVICE_CANNOT_READ", 409, "This device sends its reads by itself; it cannot be asked to read.",
          "该设备扫码或刷卡即自动读取，无需点击读卡。"),
    _spec("DEVICE_LIBRARY_UNAVAILABLE", 503,
          "The device's vendor library cannot be loaded (missing file, wrong architecture, missing function).",
          "设备厂家动态库无法加载（文件不存在、位数或系统不符、缺少接口函数），请联系技术支持检查设备配置。"),
    _spec("DEVICE_LIBRARY_FAILED", 503, "The device's vendor library crashed or did not answer; it was restarted.",
          "设备厂家动态库无响应或异常退出，已自动重启，请重新操作。"),
    _spec("DEVICE_LIBRARY_BAD_ANSWER", 502,
          "The device's vendor library answered something unreadable (not GBK, truncated or over-long).",
          "设备厂家动态库返回的内容无法识别（编码或长度不正确），请重新操作；多次出现请联系技术支持。"),
    _spec("EVOUCHER_SDK_UNAVAILABLE", 503,
          "The e-voucher SDK cannot be loaded, crashed or did not answer; nothing was decoded.",
          "医保电子凭证解码组件无法加载或无响应，请稍后重试，或改用社保卡、身份证。"),
    _spec("EVOUCHER_SDK_FAILED", 502, "The e-voucher SDK could not decode the code.",
          "医保电子凭证解码失败，请让患者刷新电子凭证后重新出示。"),
    _spec("EVOUCHER_SDK_BAD_ANSWER", 502,
          "The e-voucher SDK answered something unreadable (not GBK, truncated or over-long).",
          "医保电子凭证解码组件返回的内容无法识别，请重新扫码；多次出现请联系技术支持。"),
    # uploads and reconciliation (docs/reconciliation.md); the message says what to do next
    _spec("UPLOAD_REFUSED", 409,
          "The insurer refused this upload; read its reason, correct the cause (the pack, the details or at the "
          "insurer), then send it again with `rxlane outbox --retry ID`.",
          "医保中心拒收该上传：请查看医保中心给出的原因，更正后（药品、批号等信息，或联系医保经办机构处理）"
          "用 rxlane outbox --retry 编号 重新上传。"),
    _spec("UPLOAD_DETAILS_MISSING", 409,
          "The upload lacks fields the insurer requires (lot, production date, expiry, pharmacist …); supply them "
          "with POST /v1/sales/{id}/upload-details and it leaves at once.",
          "上传缺少医保中心要求的信息（批号、生产日期、有效期、药师等）：请在柜台页面补录"
          "（POST /v1/sales/{id}/upload-details），补录后立即上传。"),
    _spec("UPLOAD_RETRIES_EXHAUSTED", 503,
          "The insurer could not take this upload after several attempts; check the connection, then send it again "
          "with `rxlane outbox --retry ID`.",
          "多次上传均未成功：请检查与医保中心的网络连接，然后用 rxlane outbox --retry 编号 重新上传。"),
    _spec("PHARMACIST_UNKNOWN", 422, "No pharmacist with this practising licence number is configured for the store.",
          "门店药师名单中没有该执业药师注册证号，请核对，或请管理员在配置的 [[pharmacists]] 中添加。"),
    _spec("RECONCILED_BY_LEAD", 409,
          "This counter's sales are reconciled by the store's lead counter; run the reconciliation there.",
          "本柜台的对账由门店主收银台统一进行，请在主收银台执行对账。"),
    _spec("RECONCILE_PEER_UNAVAILABLE", 503,
          "A counter of this store could not be asked for its day's sales; nothing was sent to the insurer, so no "
          "false difference appears. Switch that counter on (or check its address and token) and run it again.",
          "无法获取本店另一台收银机的当日结算数据，为避免错误的对账差异，本次未向医保中心对账。"
          "请开启该收银机（或检查其地址和令牌）后重新对账。"),
    _spec("GATEWAY_MISMATCH", 409,
          "This command's configuration names another insurer gateway than the one the service uses; nothing was "
          "sent. Run it with the service's configuration.",
          "该命令使用的配置与正在运行的服务连接的医保网关不同，未发送任何报文。请使用服务的配置文件执行。"),
    _spec("GATEWAY_NOT_RUNNING", 409,
          "The service uses its embedded sandbox insurer, which runs only inside the service: start `rxlane serve`; "
          "it does this work itself and through its API (POST /v1/reconciliation, POST /v1/sales/{id}/resolve, "
          "POST /v1/outbox/retry), and commands that only read (doctor, outbox, gateway check) run beside it.",
          "服务使用内置的模拟医保中心，它只在服务运行时存在：请先启动 rxlane serve。对账、冲正和重传由服务"
          "自动完成，也可通过其接口发起（POST /v1/reconciliation 等）；只读命令（doctor、outbox、"
          "gateway check）可在服务运行时执行。"),
    _spec("LIST_INVALID", 422, "The dual-channel list has bad rows or columns; nothing was imported.",
          "双通道药品目录存在错误的行或列，未导入任何内容，原目录继续使用。请按行号修改后重新导入。"),
    _spec("LIST_UNREADABLE", 422, "The file is not a readable CSV or XLSX dual-channel list; nothing was imported.",
          "无法读取该双通道药品目录文件（格式、编码或内容有误），未导入任何内容，原目录继续使用。"),
    _spec("STORE_UNKNOWN", 401, "No enrolled store has this token.",
          "总部未登记该门店令牌，请用 rxlane hq enroll 重新登记门店。"),
    _spec("STORE_REVOKED", 403, "This store's token was revoked at headquarters.",
          "该门店令牌已被总部吊销，请联系总部信息部门重新登记。"),
    _spec("HEARTBEAT_REPLAYED", 409, "Headquarters already has this heartbeat (same store and sequence number).",
          "总部已收到该序号的心跳，不会重复记录。"),
    _spec("HEARTBEAT_OUT_OF_ORDER", 409, "Headquarters already has a newer heartbeat from this store.",
          "总部已收到该门店更新的心跳，旧序号的心跳不再记录。"),
    _spec("REPORT_CONFLICT", 409,
          "Headquarters already has this month's report with other figures; this one was kept and flagged.",
          "总部已收到该月份数字不同的月报：本次月报已保存并标记待核对，未覆盖原月报。"),
    _spec("INTERNAL", 500, "Internal error; nothing was charged twice. Please report the request id.",
          "系统内部错误，请记录请求编号并联系技术支持。"),
    # -- the request's origin and shape (docs/reliability.md, "Who may call") --------------------------------------
    _spec("UNSUPPORTED_MEDIA_TYPE", 415, "Send the body as JSON with 'Content-Type: application/json'.",
          "请求内容必须是 JSON，并带有 Content-Type: application/json 头。"),
    _spec("CROSS_ORIGIN_REFUSED", 403,
          "A request from another web page was refused: only the counter page and the POS may change sales.",
          "已拒绝来自其他网页的请求：只有收银台页面和POS系统可以操作销售单。"),
    _spec("HOST_NOT_ALLOWED", 421,
          "This host name is not one rxlane answers to; add it to [server] allowed_hosts if it is yours.",
          "该主机名不在允许列表中；如确属本机，请将其加入 [server] allowed_hosts 配置。"),
    _spec("REQUEST_IN_PROGRESS", 409,
          "A request with this Idempotency-Key is still being processed; ask again in a moment with the same key.",
          "相同幂等键的请求仍在处理中，请稍后用同一幂等键再次查询结果。"),
    _spec("EVENTS_BUSY", 503, "Too many event streams are open; try again in a moment.",
          "实时事件连接数已满，请稍后重试。"),
    # -- the ledger and its data directory (docs/reliability.md, "The ledger") ---------------------------------------
    _spec("LEDGER_WRITE_FAILED", 503,
          "The ledger could not be written (disk full or failing); nothing was charged. Free disk space and retry.",
          "本地账本无法写入（磁盘已满或故障），未发生扣费。请清理磁盘空间后重试，或联系技术支持。"),
    _spec("LEDGER_READ_ONLY", 503,
          "The ledger file or its directory is read-only; rxlane cannot record sales. Fix the permissions.",
          "本地账本文件或目录为只读，无法记录销售。请修正文件权限后重启服务。"),
    _spec("LEDGER_DAMAGED", 503,
          "The ledger file is damaged; no money is taken. Restore it from a backup (rxlane restore).",
          "本地账本文件已损坏，已停止收费。请用备份恢复（rxlane restore）并联系技术支持。"),
    _spec("LEDGER_FILES_LOST", 503,
          "The ledger's files were deleted while rxlane ran; no money is taken until it is restarted.",
          "运行中的本地账本文件被删除，已停止收费。数据已尽量抢救，请重启服务并联系技术支持。"),
    _spec("DATA_DIR_IN_USE", 409,
          "Another rxlane process owns this data directory; only one may run on it.",
          "该数据目录正被另一个 rxlane 进程使用；同一数据目录只能运行一个 rxlane。"),
]}

#: Eligibility reasons (docs/policies.md §2). They appear per line in ``reasons``; a line with any of them is not paid
#: by the fund. The Chinese text tells the pharmacist what to do next.
REASONS: dict[str, ErrorSpec] = {s.code: s for s in [
    _spec("NO_FILING", 422, "The patient has no dual-channel filing for this drug.",
          "患者没有该药品的双通道备案，请先到定点医疗机构办理备案。"),
    _spec("FILING_EXPIRED", 422, "The patient's filing for this drug has expired.",
          "该药品备案已过期，请患者到定点医院续办备案。"),
    _spec("FILING_NOT_STARTED", 422, "The patient's filing for this drug is not yet valid.",
          "该药品备案尚未生效，请在备案生效日期后再购药。"),
    _spec("INSTITUTION_MISMATCH", 422, "The prescription is not from the filing's designated institution.",
          "处方不是由备案的定点医疗机构开具，请到备案医院开具处方。"),
    _spec("PHYSICIAN_NOT_RESPONSIBLE", 422, "The prescriber is not one of the patient's responsible physicians.",
          "开方医师不是患者的责任医师，请患者到责任医师处重新开具处方。"),
    _spec("CATEGORY_EXCLUDED", 422, "This drug's category may not be settled at a pharmacy.",
          "该药品类别不纳入药店双通道结算（如江西C类），请到医疗机构使用。"),
    _spec("AGREEMENT_EXPIRED", 422, "The drug's negotiation agreement has ended.",
          "该药品谈判协议期已满且已过过渡期，医保不再支付。"),
    _spec("REVIEW_PENDING", 422, "The filing still needs the hospital insurance office's review.",
          "该药品备案需医院医保办复核，复核通过后方可结算。"),
    _spec("CROSS_REGION_REVIEW_PENDING", 422, "A cross-province patient's filing lacks the agency's approval.",
          "异地参保患者需经医保经办机构审核同意后方可结算。"),
    _spec("RX_PATIENT_MISMATCH", 422, "The prescription belongs to another patient.",
          "处方不属于当前患者，请核对患者身份和处方。"),
    _spec("RX_EXPIRED", 422, "The prescription is past its validity.",
          "处方已超过有效期，请患者重新开具处方。"),
    _spec("RX_ALREADY_DISPENSED", 422, "The prescription was already dispensed.",
          "该处方已调剂（已取药），不能重复使用。"),
    _spec("RX_REVOKED", 422, "The prescription was revoked by the prescriber.",
          "该处方已被医师撤销，请患者联系开方医院。"),
    _spec("PRICE_ABOVE_STANDARD", 422, "The price is above the negotiated payment standard.",
          "销售价格高于国家谈判支付标准，不得超标准销售。"),
    _spec("DONATED_SUPPLY", 422, "Donated supply is not paid by the fund.",
          "该药品为慈善或企业无偿供药，医保基金不予支付，仅记录追溯信息。"),
    _spec("NOT_IN_CATALOG", 422, "The drug is not a dual-channel drug in the insurer's catalogue.",
          "该药品不在医保双通道目录内。"),
    _spec("NOT_ELIGIBLE", 422, "The line was marked not payable by the fund.",
          "该药品经核对不符合医保支付条件，按全自费处理。"),
    _spec("NOT_ON_PRESCRIPTION", 422, "The drug is not on the prescription.",
          "该药品不在处方上，请按处方调剂。"),
]}


def reason(code: str, **details: Any) -> dict[str, Any]:
    """One per-line reason as it appears in API answers: code, both messages, optional details."""
    spec = REASONS[code]
    out: dict[str, Any] = {"code": code, "message": spec.message, "message_zh": spec.message_zh}
    if details:
        out["details"] = details
    return out


class RxlaneError(Exception):
    """A refusal with a stable code. Raised anywhere; rendered as JSON in one place (plugin/api/http.py)."""

    def __init__(self, code: str, message: str | None = None, message_zh: str | None = None,
                 details: dict[str, Any] | None = None, http_status: int | None = None):
        spec = ERRORS.get(code) or REASONS.get(code) or ERRORS["INTERNAL"]
        self.code = code
        self.message = message or spec.message
        self.message_zh = message_zh or spec.message_zh
        self.details = details or {}
        self.http_status = http_status or spec.http_status
        super().__init__(f"{code}: {self.message}")

    def to_body(self) -> dict[str, Any]:
        return {"error": {"code": self.code, "message": self.message, "message_zh": self.message_zh,
                          "details": self.details}}


class InvalidInput(RxlaneError):
    def __init__(self, message: str, message_zh: str | None = None, field: str | None = None, **details: Any):
        if field is not None:
            details = {"field": field, **details}
        super().__init__("INVALID_INPUT", message, message_zh or f"请求内容不正确：{message}", details)


#: What may be not found, as the pharmacist reads it; ``what_zh`` names anything else.
THINGS_ZH = {"sale": "该销售单", "device": "该设备", "stock entry": "该库存批次", "store": "该门店",
             "reports": "该月的月报", "a published dual-channel list": "已发布的双通道药品目录", "patient": "该患者",
             "prescription": "该处方"}


class NotFound(RxlaneError):
    def __init__(self, what: str, what_zh: str = "", **details: Any):
        """``what`` in English; its Chinese from ``what_zh`` or THINGS_ZH (never the English word in the Chinese)."""
        zh = what_zh or THINGS_ZH.get(what) or THINGS_ZH.get(what.split(" ")[0], "所请求的内容")
        super().__init__("NOT_FOUND", f"{what} not found.", f"未找到{zh}。", details)


#: The sale's states as the pharmacist reads them (the counter page's labels say the same).
STATE_NAMES_ZH = {"draft": "待结算", "presettled": "已预结算", "settling": "结算中", "settled": "已结算",
                  "in_doubt": "结果待核实", "reversed": "已冲正", "refunding": "退费中", "refunded": "已退费",
                  "refund_in_doubt": "退费待核实", "cancelled": "已取消"}
_ACTIONS_ZH = {"presettled": "预结算", "changed": "修改", "settled": "结算", "refunded": "退费", "cancelled": "取消",
               "printed": "打印结算凭条"}


class InvalidState(RxlaneError):
    def __init__(self, state: str, action: str, **details: Any):
        state_zh = STATE_NAMES_ZH.get(state, state)
        action_zh = f"不能{_ACTIONS_ZH[action]}" if action in _ACTIONS_ZH else "不能执行该操作"
        super().__init__("INVALID_STATE", f"A sale in state '{state}' cannot be {action}.",
                         f"销售单当前状态为“{state_zh}”，{action_zh}。", {"state": state, **details})


class UpstreamRefused(RxlaneError):
    """The insurer answered and refused (``infcode != 0``); nothing moved. ``infcode``/``err_msg`` are the
    insurer's own, kept verbatim for the pharmacist and the audit."""

    def __init__(self, infcode: int, err_msg: str, *, code: str = "UPSTREAM_REFUSED",
                 message: str | None = None, message_zh: str | None = None,
                 details: dict[str, Any] | None = None):
        self.infcode = infcode
        self.err_msg = err_msg
        super().__init__(
            code,
            message or f"The insurer refused the request (infcode {infcode}): {err_msg}",
            message_zh or f"医保中心拒绝：{err_msg}",
            {"infcode": infcode, "err_msg": err_msg, **(details or {})})


class UpstreamUnavailable(RxlaneError):
    """The insurer could not be asked (nothing was sent), or answered a query unreadably: nothing was charged."""

    def __init__(self, message: str | None = None, message_zh: str | None = None,
                 details: dict[str, Any] | None = None):
        super().__init__("UPSTREAM_UNAVAILABLE", message, message_zh, details)


class SettlementInDoubt(RxlaneError):
    """A settlement or cancellation left and its outcome is unknown: it is resolved by asking the insurer (2601
    reversal of the journaled msgid), never by sending it again."""

    def __init__(self, sale_id: str = "", msgid: str = "", **details: Any):
        extra = {k: v for k, v in {"sale_id": sale_id, "msgid": msgid}.items() if v}
        super().__init__("SETTLEMENT_IN_DOUBT", details={**extra, **details})


class TraceCodeError(RxlaneError):
    """A pack's traceability code was refused; ``code`` is one of the ``TRACE_CODE_*`` entries above."""

    def __init__(self, code: str, message: str | None = None, message_zh: str | None = None,
                 details: dict[str, Any] | None = None):
        if not code.startswith("TRACE_CODE_"):
            raise ValueError(f"not a trace-code error: {code}")
        super().__init__(code, message, message_zh, details)


class LedgerFault(RxlaneError):
    """The ledger's file cannot be used as it must be (``LEDGER_*`` codes): a write failed (disk full, I/O error),
    the file is read-only, damaged, or was deleted under the running process. ``reason`` is a short English
    description for logs and `rxlane doctor` (never personal data)."""

    def __init__(self, code: str, reason: str = "", **details: Any):
        if not code.startswith("LEDGER_"):
            raise ValueError(f"not a ledger fault: {code}")
        self.reason = reason
        super().__init__(code, details={**({"reason": reason} if reason else {}), **details})


class DataDirInUse(RxlaneError):
    """Another process owns the data directory (docs/reliability.md, "One process per data directory");
    ``holder`` tells which, when it said so (pid, role, url, since)."""

    def __init__(self, directory: str, holder: dict[str, Any] | None = None):
        who = holder or {}
        pid = f" (pid {who['pid']})" if who.get("pid") else ""
        role = who.get("role") or "rxlane"
        super().__init__(
            "DATA_DIR_IN_USE",
            f"{directory} is in use by `{role}`{pid}; only one rxlane may run on a data directory. Stop it, or use "
            "its API instead.",
            f"数据目录 {directory} 正被 {role}{pid} 使用；同一数据目录只能运行一个 rxlane。"
            "请先停止它，或改用其接口操作。",
            {"data_dir": directory, **{k: v for k, v in who.items() if k in ("pid", "role", "url", "since")}})
