"""The e-voucher SDK call (adapters/evoucher/sdk.py): NationEcTrans(url, inJson, outBuffer) in the isolated worker,
against a compiled stand-in — the answer in GBK, a failing return code, and an SDK that hangs, crashes or answers
more than its buffer holds."""
import json

import pytest

from adapters.evoucher.sdk import OUT_BYTES, EvoucherSdk, SdkBadAnswer, SdkFailed, SdkUnavailable
from plugin.api.errors import ERRORS

URL = "http://10.36.0.8:8081/localcfc/api/hsecfc/localQrCodeQuery"
REQUEST = {"orgId": "P36010200001", "transType": "cn.nhsa.qrcode.get",
           "data": {"orgId": "P36010200001", "businessType": "01301", "operatorId": "YS0001",
                    "operatorName": "李药师", "officeId": "YF01", "officeName": "药房"}, "extra": ""}
# made-up decode answer; `data` is a JSON string, as the SDK answers it
ANSWER = json.dumps({"orgId": "P36010200001", "code": 0, "message": "成功", "extra": "",
                     "data": json.dumps({"ecToken": "360100ecTESTTOKEN000000000000000000000a1", "idNo":
                                         "360121196805122010", "idType": "01", "userName": "张伟",
                                         "insuOrg": "360102"}, ensure_ascii=False)}, ensure_ascii=False)


class Sdk:
    def __init__(self, folder):
        self.folder = folder

    def behave(self, code="0000", mode="copy", answer: bytes | None = None):
        (self.folder / "nationec.ctl").write_text(f"{code} {mode}\n")
        if answer is not None:
            (self.folder / "answer.bin").write_bytes(answer)

    def last_request(self) -> bytes:
        return (self.folder / "last_request.bin").read_bytes()


@pytest.fixture
def stand_in(standins, tmp_path):
    path = standins.copy("nationec", tmp_path / "NationECCode")
    fake = Sdk(path.parent)
    fake.behave(answer=ANSWER.encode("gbk"))
    sdk = EvoucherSdk(str(path), timeout_s=2)
    yield sdk, fake
    sdk.close()


def test_the_call_sends_url_and_request_in_gbk_and_returns_the_answer_text(stand_in):
    sdk, fake = stand_in
    text = sdk.trans(URL, json.dumps(REQUEST, ensure_ascii=False))
    assert json.loads(json.loads(text)["data"])["userName"] == "张伟"
    assert fake.last_request() == (URL + "\n" + json.dumps(REQUEST, ensure_ascii=False)).encode("gbk")


def test_a_return_code_other_than_0000_is_sdk_failed_with_the_sdks_words(stand_in):
    sdk, fake = stand_in
    fake.behave(code="1001", answer="请使用医保电子凭证二维码".encode("gbk"))
    with pytest.raises(SdkFailed) as caught:
        sdk.trans(URL, json.dumps(REQUEST))
    assert (caught.value.return_code, caught.value.sdk_message) == ("1001", "请使用医保电子凭证二维码")
    assert caught.value.code == "EVOUCHER_SDK_FAILED" and "请使用医保电子凭证二维码" in caught.value.message_zh


@pytest.mark.parametrize("mode, reason", [("hang", "hung"), ("crash", "crashed")])
def test_a_hanging_or_crashing_sdk_is_unavailable_and_the_next_call_works(stand_in, mode, reason):
    sdk, fake = stand_in
    fake.behave(mode=mode)
    with pytest.raises(SdkUnavailable) as caught:
        sdk.trans(URL, json.dumps(REQUEST))
    assert caught.value.reason == reason and caught.value.code == "EVOUCHER_SDK_UNAVAILABLE"
    fake.behave(answer=ANSWER.encode("gbk"))
    assert json.loads(sdk.trans(URL, json.dumps(REQUEST)))["code"] == 0


@pytest.mark.parametrize("mode, answer", [
    ("copy", b"{" * (OUT_BYTES + 200)),              # written past the end of outBuffer
    ("noterm", b"{" * OUT_BYTES),                    # fills it with no terminating NUL
    ("copy", b'{"code":0,"message":"\x81\x20\xff"}'),  # not GBK
    ("copy", b""),                                    # nothing
])
def test_an_answer_over_long_unterminated_not_gbk_or_empty_is_a_bad_answer(stand_in, mode, answer):
    sdk, fake = stand_in
    fake.behave(mode=mode, answer=answer)
    with pytest.raises(SdkBadAnswer) as caught:
        sdk.trans(URL, json.dumps(REQUEST))
    assert caught.value.code == "EVOUCHER_SDK_BAD_ANSWER" and caught.value.message_zh


def test_a_missing_sdk_or_one_without_nationectrans_is_unavailable(standins, tmp_path):
    for path, reason in ((tmp_path / "NationECCode.dll", "missing"),
                         (standins.copy("unrelated", tmp_path / "u"), "symbol_missing")):
        with pytest.raises(SdkUnavailable) as caught:
            EvoucherSdk(str(path)).trans(URL, "{}")
        assert caught.value.reason == reason


def test_every_sdk_error_code_is_in_the_catalogue():
    assert {SdkUnavailable.code, SdkFailed.code, SdkBadAnswer.code} <= set(ERRORS)
