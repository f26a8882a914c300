"""Fixtures for the gateway client and sandbox tests: a real sandbox on a free port, the adapter's real
``GatewayClient`` and message builders (adapters/nhsa/*) against it."""
from decimal import Decimal

import pytest

from adapters.nhsa import settlement
from adapters.nhsa.client import GatewayClient, GatewaySettings
from adapters.nhsa.envelope import MsgIdGenerator
from adapters.nhsa.profile import load_profile
from adapters.sandbox.adjudicate import resolve_policy
from adapters.sandbox.demo import load_demo
from adapters.sandbox.gateway import Variants
from adapters.sandbox.server import start_sandbox
from tests.standins import card_library, front_end, standins  # noqa: F401  (stand-in library fixtures)

PHARMACY = "P36010200001"
# Demo people (adapters/sandbox/data/README.md)
ZHANG = {"psn_no": "36010000000000000101", "certno": "360121196805122010", "admdvs": "360102",
         "card_no": "A36010201", "card_sn": "360100D15600000500A1B2C3D4E5F601",
         "ecard_qr": "4260173956810000000001360102"}
LI = {"psn_no": "36010000000000000102", "certno": "36012219550923102X", "admdvs": "360104"}
WANG = {"psn_no": "42010000000000000103", "certno": "42010019720308401X", "admdvs": "420100"}
CHEN = {"psn_no": "36010000000000000104", "certno": "360102199011173021", "admdvs": "360111"}
LIU = {"psn_no": "36010000000000000105", "certno": "360100198007045011", "admdvs": "360102",
       "ecard_qr": "4260173956810000000005360102"}
ZHOU = {"psn_no": "36010000000000000106", "certno": "360120196202196022", "admdvs": "360103"}
SECUKINUMAB = "XL04ACS251B002010100702"
OSIMERTINIB = "XL01EBA341A001010100701"
SINTILIMAB = "XL01FFX121B002010100704"
EVOLOCUMAB = "XC10AXY051B002010100705"
NUSINERSEN = "XM09AXN047B002010100706"
RX_LIU = "HX36010200101000000009"          # 司库奇尤单抗 ×1 by a responsible physician (吴丽华)
RX_ZHANG_OSI = "HX36011100301000000001"    # 奥希替尼 ×1, valid
RX_ZHANG_WRONG_DR = "HX36010200101000000002"  # 司库奇尤单抗 ×2 by a physician who is not responsible (孙浩)


@pytest.fixture(scope="session")
def _sandbox_server():
    server = start_sandbox(port=0)
    yield server
    server.shutdown()


@pytest.fixture
def sandbox(_sandbox_server):
    """The shared sandbox with fresh demo books, the Jiangxi policy, the national profile, default variants and no
    faults (what POST /sandbox/reset {"demo": true} does, plus the profile)."""
    server = _sandbox_server
    server.books.policy = resolve_policy("jiangxi")
    with server.books.lock:
        server.books.reset()
        load_demo(server.books)
    server.faults.clear()
    server.messages.clear()
    server.gateway.variants = Variants()
    server.gateway.profile = load_profile("national")
    server.gateway.secret = ""
    server.crypto = None
    return server


def make_client(url: str, timeout_s: float = 5.0, profile: str = "national", **settings) -> GatewayClient:
    config = GatewaySettings(url=url, fixmedins_code=PHARMACY, fixmedins_name="示例大药房（八一店）",
                             mdtrtarea_admvs="360102", timeout_s=timeout_s, profile=load_profile(profile),
                             terminal_ip="10.36.1.23", terminal_mac="00-1A-2B-3C-4D-5E", **settings)
    return GatewayClient(config, MsgIdGenerator(PHARMACY))


@pytest.fixture
def gateway(sandbox):
    client = make_client(sandbox.url)
    client.sign_in()
    return client


def settle_body(person=LIU, code=SECUKINUMAB, price="598.00", qty="1", rxno=RX_LIU, acct_used=True,
                dr_code="D360102001002", dr_name="吴丽华", profile="national", insutype="310", invono=None,
                cert_type="02", cert_no=None, dise=("M07101", "银屑病（生物制剂治疗）")):
    """A 2101/2102 input built by the adapter's own builder (one insured line, by ID number)."""
    line = settlement.DrugLine(feedetl_sn="1", med_list_codg=code, cnt=Decimal(qty), pric=Decimal(price), rxno=rxno,
                               rx_circ_flag="1", fee_ocur_time="2025-11-20 09:30:00", bilg_dr_codg=dr_code,
                               bilg_dr_name=dr_name)
    return settlement.settle_input(load_profile(profile), psn_no=person["psn_no"], mdtrt_cert_type=cert_type,
                                   mdtrt_cert_no=cert_no or person["certno"], insutype=insutype, acct_used=acct_used,
                                   lines=[line], begntime="2025-11-20 09:30:00", dise_codg=dise[0],
                                   dise_name=dise[1], invono=invono)
