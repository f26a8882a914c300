"""Every injected fault (docs/sandbox.md POST /sandbox/faults) reaches the client as the exception that tells the truth
about money: refused (nothing moved) or outcome unknown (maybe moved)."""
import pytest
import requests

from adapters.nhsa import catalogue, person, settlement
from adapters.nhsa.errors import (GatewayConnectionLost, GatewayOutcomeUnknown, GatewayProtocolError, GatewayRefused,
                                  GatewayTimeout)
from tests.adapters.conftest import LIU, make_client, settle_body


def arm(sandbox, **fault):
    resp = requests.post(sandbox.url + "/sandbox/faults", json=fault, timeout=5)
    assert resp.status_code == 201, resp.text


def send_settlement(client):
    env = client.prepare("2102", settle_body(), insuplc_admdvs="360102")
    return env, client.send(env)


def settlements(sandbox):
    return sandbox.books.ledger()["settlements"]


def test_error_fault_is_refused_with_its_message_and_commits_nothing(sandbox, gateway):
    arm(sandbox, infno="2102", mode="error", times=1, err_msg="医保中心系统维护中")
    with pytest.raises(GatewayRefused) as err:
        send_settlement(gateway)
    assert err.value.err_msg == "医保中心系统维护中" and settlements(sandbox) == []


def test_timeout_fault_is_gateway_timeout_and_commits_nothing(sandbox):
    client = make_client(sandbox.url, timeout_s=0.3)
    client.sign_in()
    arm(sandbox, infno="2102", mode="timeout", times=1, delay_ms=1500)
    with pytest.raises(GatewayTimeout):
        send_settlement(client)
    assert settlements(sandbox) == []


def test_slow_fault_commits_after_the_delay_and_answers(sandbox, gateway):
    arm(sandbox, infno="2102", mode="slow", times=1, delay_ms=200)
    _, answer = send_settlement(gateway)
    assert settlement.parse_setlinfo(answer.output).setl_id == settlements(sandbox)[0]["setl_id"]


def test_drop_response_commits_then_loses_the_answer(sandbox, gateway):
    arm(sandbox, infno="2102", mode="drop_response", times=1)
    with pytest.raises((GatewayConnectionLost, GatewayProtocolError)) as err:
        send_settlement(gateway)
    assert isinstance(err.value, GatewayOutcomeUnknown)
    assert [s["state"] for s in settlements(sandbox)] == ["settled"]


def test_corrupt_answer_is_a_protocol_error_after_commit(sandbox, gateway):
    arm(sandbox, infno="2102", mode="corrupt", times=1)
    with pytest.raises(GatewayProtocolError):
        send_settlement(gateway)
    assert len(settlements(sandbox)) == 1


def test_times_counts_down_per_matching_message(sandbox, gateway):
    arm(sandbox, infno="1101", mode="error", times=2)
    query = person.person_info_input("02", LIU["certno"])
    for _ in range(2):
        with pytest.raises(GatewayRefused):
            gateway.call("1101", query)
    gateway.call("2101", settle_body(), insuplc_admdvs="360102")  # another infno is untouched
    assert person.parse_person(gateway.call("1101", query)).psn_no == LIU["psn_no"]
    assert sandbox.books.ledger() and requests.get(sandbox.url + "/sandbox/ledger", timeout=5).json()["faults"] == []


def test_shutdown_interrupts_a_held_timeout_request():
    from adapters.sandbox.server import start_sandbox
    server = start_sandbox(port=0)
    client = make_client(server.url, timeout_s=0.2)
    client.sign_in()
    arm(server, infno="1312", mode="timeout", times=1)  # default 30 s hold
    with pytest.raises(GatewayTimeout):
        client.call("1312", catalogue.catalogue_query_input(updt_time="2000-01-01", page_num=1, page_size=10))
    server.shutdown()
    assert server.faults.stopping.is_set()


def test_sign_in_expired_fault_ends_the_sign_in_until_the_client_signs_in_again(sandbox, gateway):
    arm(sandbox, infno="1101", mode="sign_in_expired", times=1)
    query = person.person_info_input("02", LIU["certno"])
    with pytest.raises(GatewayRefused) as err:
        gateway.call("1101", query)
    assert gateway.profile.sign_in_invalid(err.value.err_msg)
    with pytest.raises(GatewayRefused):           # still no valid sign-in: the fault did not just answer once
        gateway.call("5301", person.filing_query_input(LIU["psn_no"]), insuplc_admdvs="360102")
    gateway.sign_in()
    assert person.parse_person(gateway.call("1101", query)).psn_no == LIU["psn_no"]


def test_a_fault_on_a_logical_number_hits_its_lettered_form_too(sandbox):
    from adapters.sandbox.faults import Fault
    sandbox.faults.add(Fault(infno="3505A", mode="error", times=1))
    assert sandbox.faults.take("3505A") is not None and sandbox.faults.take("3505A") is None


def test_the_sandbox_runs_on_the_production_server_and_a_dropped_answer_is_no_answer_at_all(sandbox, gateway):
    """The embedded insurer runs on waitress, as rxlane does (a development server is not what a store runs);
    ``drop_response`` still commits and then closes the connection without a single byte of answer (not an HTML
    error page, which would be another kind of fault)."""
    import requests
    assert requests.get(f"{sandbox.url}/sandbox/ledger", timeout=10).headers["Server"] == "rxlane-sandbox"
    arm(sandbox, infno="2102", mode="drop_response", times=1)
    with pytest.raises(GatewayConnectionLost):
        send_settlement(gateway)
    assert [s["state"] for s in settlements(sandbox)] == ["settled"]
