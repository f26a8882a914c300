"""Fixtures for the gateway client and sandbox tests: a real sandbox on a free port, a real client against it."""
from decimal import Decimal

import pytest

from adapters.nhsa import transactions as tx
from adapters.nhsa.client import GatewayClient, GatewaySettings
from adapters.nhsa.envelope import MsgIdGenerator
from adapters.sandbox.adjudicate import resolve_policy
from adapters.sandbox.demo import load_demo
from adapters.sandbox.server import start_sandbox
from tests.standins import card_library, front_end, standins  # noqa: F401  (stand-in library fixtures)

PHARMACY = "P36010200001"
# Demo people (adapters/sandbox/data/README.md)
ZHANG = {"psn_no": "36010000000000000101", "certno": "360121196805122010", "admdvs": "360102"}
LIU = {"psn_no": "36010000000000000105", "certno": "360100198007045011", "admdvs": "360102"}
SECUKINUMAB = "XL04ACS251B002010100702"
OSIMERTINIB = "XL01EBA341A001010100701"
RX_LIU = "HX36010200101000000009"          # 司库奇尤单抗 ×1 by a responsible physician
RX_ZHANG_OSI = "HX36011100301000000001"    # 奥希替尼 ×1, valid
RX_ZHANG_WRONG_DR = "HX36010200101000000002"  # 司库奇尤单抗 ×2 by a physician who is not responsible


@pytest.fixture(scope="session")
def _sandbox_server():
    server = start_sandbox(port=0)
    yield server
    server.shutdown()


@pytest.fixture
def sandbox(_sandbox_server):
    """The shared sandbox with fresh demo books, the Jiangxi policy and no faults (POST /sandbox/reset)."""
    server = _sandbox_server
    server.books.policy = resolve_policy("jiangxi")
    with server.books.lock:
        server.books.reset()
        load_demo(server.books)
    server.faults.clear()
    return server


def make_client(url: str, timeout_s: float = 5.0) -> GatewayClient:
    settings = GatewaySettings(url=url, fixmedins_code=PHARMACY, fixmedins_name="示例大药房（八一店）",
                               mdtrtarea_admvs="360102", timeout_s=timeout_s)
    return GatewayClient(settings, MsgIdGenerator(PHARMACY))


@pytest.fixture
def gateway(sandbox):
    client = make_client(sandbox.url)
    client.sign_in()
    return client


def settle_body(person=LIU, code=SECUKINUMAB, price="598.00", qty="1", rxno=RX_LIU, acct_used=True, **flags):
    line = tx.DrugLine(feedetl_sn="1", med_list_codg=code, cnt=Decimal(qty), pric=Decimal(price), rxno=rxno, **flags)
    return tx.settle_input(psn_no=person["psn_no"], mdtrt_cert_type="02", mdtrt_cert_no=person["certno"],
                           insutype="310", acct_used=acct_used, lines=[line])
