"""The whole counter flow under every gateway profile rxlane ships (config/gateways/; docs/gateway.md "Profiles"),
as each province's answers come and with all the answer variants at once (docs/sandbox.md "Answer variants").

The sandbox speaks the profile the store is set to: its node names, transaction numbers (3505 or the 3505A batch),
receiver codes and required fields. Sign-in, identification by ID number, by social-security card and by e-voucher,
the prescriptions listed and downloaded, presettle, settle, the uploads and a refund must end the same way: settled
once with the insurer's split, refunded with its cancellation, nothing in doubt, every upload delivered.
"""
from __future__ import annotations

import time

import pytest

from tests.contract.test_variants import VARIANTS
from tests.e2e.conftest import ZHANG, assert_invariant, identify, new_sale

PROFILES = ("national", "zhejiang", "chongqing")


def _insurer_settlement(sandbox_http, setl_id: str) -> dict:
    [theirs] = [s for s in sandbox_http.get("/sandbox/ledger").json()["settlements"] if s["setl_id"] == setl_id]
    return theirs


@pytest.fixture(scope="module")
def province_key(tmp_path_factory):
    """The province's RSA key pair for the patient's password (docs/gateway.md "password in cainfo"): rxlane holds
    only the public half, as a store does."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path_factory.mktemp("province") / "password-public.pem"
    path.write_bytes(private.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo))
    return private, path


def _password_of(cainfo: str, private) -> str:
    import base64

    from cryptography.hazmat.primitives.asymmetric import padding
    return private.decrypt(base64.b64decode(cainfo), padding.PKCS1v15()).decode("utf-8")


@pytest.mark.parametrize("answers", ["as_sent", "all_variants"])
@pytest.mark.parametrize("profile", PROFILES)
def test_the_counter_flow_ends_the_same_under_every_profile(service_factory, sandbox_http, province_key, profile,
                                                            answers):
    from adapters.nhsa.profile import load_profile
    private, public_pem = province_key
    assert sandbox_http.put("/sandbox/profile", {"name": profile}).status_code == 200
    if answers == "all_variants":
        assert sandbox_http.post("/sandbox/variants", VARIANTS["all_at_once"]).status_code == 200
    svc, http = service_factory(nhsa={"profile": profile, "password_public_key_file": str(public_pem)})
    asks_password = load_profile(profile).settle.password_in_cainfo
    assert http.get("/v1/health").json()["upstream"]["profile"] == profile
    # one patient by each credential; a reference per credential, since 2101/2102 carry the credential that was used
    refs = {how: identify(http, ZHANG, how=how)["patient_ref"] for how in ("id_card", "ss_card", "ecard")}
    assert len({svc.ledger.patients.get(ref).psn_no for ref in refs.values()}) == 1
    sale = new_sale(http, refs["ecard"])
    pre = http.post(f"/v1/sales/{sale['id']}/presettle")
    assert pre.status_code == 200, pre.text
    if asks_password:                 # the province asks for the patient's password: none given, nothing is sent
        refused = http.post(f"/v1/sales/{sale['id']}/settle")
        assert refused.status_code == 422 and refused.json()["error"]["code"] == "PASSWORD_REQUIRED", refused.text
        assert refused.json()["error"]["message_zh"]
    done = http.post(f"/v1/sales/{sale['id']}/settle", {"password": "246810"} if asks_password else None)
    assert done.status_code == 200, done.text
    settled = done.json()
    [sent] = [e for e in svc.ledger.journal.for_sale(sale["id"]) if e["infno"] == "2102"]
    kept = svc.ledger.journal.message(sent["msgid"])
    cainfo = kept["body"]["cainfo"]
    if asks_password:                 # sealed with the province's key; the plain password is kept nowhere
        assert _password_of(cainfo, private) == "246810" and "246810" not in str(kept)
    else:
        assert cainfo == ""
    assert settled["state"] == "settled" and settled["setl_id"]
    assert_invariant(settled["split"])
    theirs = _insurer_settlement(sandbox_http, settled["setl_id"])
    assert (theirs["state"], theirs["fund_pay_sumamt"], theirs["acct_pay"]) == \
        ("settled", settled["split"]["fund_pay_sumamt"], settled["split"]["acct_pay"])

    deadline = time.monotonic() + 30                      # the uploads leave in the background
    while svc.outbox.depth()["pending"] and time.monotonic() < deadline:
        svc.outbox.drain()
        time.sleep(0.05)
    depth = svc.outbox.depth()
    assert depth["pending"] == depth["parked"] == depth["waiting"] == 0, svc.outbox.problems()
    sale_infno = "3505A" if profile == "chongqing" else "3505"
    received = [m["infno"] for m in sandbox_http.get("/sandbox/messages").json()["messages"]
                if m["verdict"] == "accepted"]
    assert sale_infno in received and "7206" in received, received

    refund = http.post(f"/v1/sales/{sale['id']}/refund", {"reason": "患者退药"})
    assert refund.status_code == 200, refund.text
    assert refund.json()["state"] == "refunded"
    assert _insurer_settlement(sandbox_http, settled["setl_id"])["state"] == "cancelled"
    assert svc.sales.in_doubt_ids() == []
