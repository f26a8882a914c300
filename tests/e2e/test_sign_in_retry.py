"""A failed sign-in (9001) is retried on the retry policy's schedule, not by every request: after an insurer outage
thousands of counters must not all sign in again at once, and meanwhile the POS gets the failure at once."""
import pytest

from plugin.errors import UpstreamRefused
from plugin.upstream import Upstream


def test_after_a_refused_sign_in_requests_fail_at_once_until_the_retry_is_due(rx, sandbox_http):
    svc, http = rx
    now = [1000.0]
    client = svc.upstream.client
    sent = []
    real_sign_in = client.sign_in
    client.sign_in = lambda **kw: sent.append(1) or real_sign_in(**kw)   # counts real sign-ins over real HTTP
    up = Upstream(client, clock=lambda: now[0])
    sandbox_http.post("/sandbox/faults", {"infno": "9001", "mode": "error", "times": 1, "err_msg": "签到失败（测试）"})
    with pytest.raises(UpstreamRefused) as first:
        up.query("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "x"}})
    with pytest.raises(UpstreamRefused) as second:
        up.query("1101", {"data": {"mdtrt_cert_type": "02", "mdtrt_cert_no": "x"}})
    assert first.value.err_msg == second.value.err_msg == "签到失败（测试）"
    assert len(sent) == 1                          # the second request did not send a sign-in of its own
    now[0] += 1.01                                 # past the first delay (at most 1 s)
    up.ensure_signed_in()
    assert up.status.signed_in and len(sent) == 2
