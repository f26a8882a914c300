"""Gateway profiles as data (docs/gateway.md "Profiles"): the baseline, provinces that extend it, and a bad profile
refused naming the file and key."""
import pytest

from adapters.nhsa.profile import ProfileError, check_input, load_profile, profile_from_mapping, shipped_profiles


def test_the_baseline_and_at_least_two_provinces_ship():
    assert {"national", "zhejiang", "chongqing"} <= set(shipped_profiles())


def test_a_province_overrides_only_what_differs():
    national, zhejiang, chongqing = (load_profile(n) for n in ("national", "zhejiang", "chongqing"))
    assert zhejiang.extends == "national" and zhejiang.messages == national.messages
    assert (zhejiang.envelope.infver, zhejiang.transport.auth, zhejiang.envelope.money) == ("1.0", "x-ca-sm3", "number")
    assert zhejiang.recer_sys_code("1101") == "MBS_LOCAL" and zhejiang.recer_sys_code("2102") == "FSI_LOCAL"
    assert zhejiang.path("1101") == "/fsi/api/fsiPsnInfoService/queryPsnInfo"
    assert zhejiang.path("2102") == national.path("2102") == "/fsi/api/rsfComIfsService/callService"
    assert chongqing.recer_sys_code("2102", "340") == "LXXT" and chongqing.recer_sys_code("2102", "310") == "YBXT"
    assert chongqing.recer_sys_code("1101", "340") == "YBXT"   # only the listed transactions switch
    assert chongqing.settle.password_in_cainfo and chongqing.wire_infno("3505") == "3505A"
    assert national.wire_infno("3505") == "3505" and national.settle.node == "druginfo"


def test_a_refusal_text_maps_to_a_reason_code_and_a_lapsed_sign_in_is_recognised():
    national = load_profile("national")
    assert national.refusal_reason("药品XL01：该参保人无该药品的双通道备案") == "NO_FILING"
    assert national.refusal_reason("处方已核销（已取药）") == "RX_ALREADY_DISPENSED"
    assert national.refusal_reason("系统繁忙，请稍后再试") is None
    assert national.sign_in_invalid("未签到或签到已失效，请重新签到") and not national.sign_in_invalid("参数错误")
    assert national.reversal.not_found("未找到原交易，无需冲正") and not national.reversal.not_found("系统繁忙")


def test_input_checks_name_the_missing_field_in_chinese():
    spec = load_profile("national").message("2102")
    good = {"druginfo": {k: "x" for k in spec.required}, "drugdetail": [{k: "1" for k in spec.lines_required}]}
    assert check_input(spec, good) == []
    assert check_input(spec, {"data": good["druginfo"], "drugdetail": good["drugdetail"]}) == [
        "交易输入缺少节点[druginfo]"]
    missing = {**good, "druginfo": {**good["druginfo"], "med_type": ""}}
    assert check_input(spec, missing) == ["参数[druginfo.med_type]不能为空"]
    assert check_input(spec, {**good, "drugdetail": []}) == ["交易输入缺少明细[drugdetail]"]
    rx = load_profile("national").message("7203")
    assert check_input(rx, {"data": {"insuplc_admdvs": "360100"}}) == ["参数[epc_token/auth_rxno]至少填写一项"]


@pytest.mark.parametrize("data, where", [
    ({"name": "x", "envelope": {"money": "float"}}, "envelope.money"),
    ({"name": "x", "transport": {"auth": "magic"}}, "transport.auth"),
    ({"name": "x", "refusals": {"(unclosed": "NO_FILING"}}, "refusals"),
    ({"name": "x", "unknown_table": {}}, "unknown_table"),
    ({"name": "x", "extends": "nowhere"}, "nowhere"),
])
def test_a_bad_profile_is_refused_naming_the_key(data, where):
    with pytest.raises(ProfileError) as err:
        profile_from_mapping(data, "my.toml")
    assert where in str(err.value)
