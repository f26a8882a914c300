"""Properties of scan classification over generated input (docs/gateway.md "Drug traceability codes").

GS1 strings are built here from the GS1 rules (check digit by biip's own implementation, separators after
variable-length fields) so the parser is held against an independent construction, and biip parses the same
strings as a second opinion on the fields.
"""
from __future__ import annotations

import calendar
import json
from datetime import date

import biip
from biip.checksums import gs1_standard_check_digit
from biip.gs1_messages import GS1Message
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from plugin.errors import InvalidInput
from plugin.tracecode import MAX_SCAN_LENGTH, ScanError, classify

GS = "\x1d"
#: GS1 alphanumeric set (82 characters) less the brackets, which the printed (HRI) form uses as delimiters.
GS1_CHARS = "!\"%&'*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"

any_text = st.one_of(
    st.text(st.characters(exclude_categories=()), max_size=80),          # all of Unicode, surrogates included
    st.text("0123456789 8\x1d\r\n\t()]dQC123ECARDXx" + GS1_CHARS[:12], max_size=60),  # near-miss scans
    st.from_regex(r"\A(\]d2|\]C1|\x1d)?01[0-9]{14}(17[0-9]{6})?(10[A-Z0-9]{1,22})?\x1d?(21[A-Z0-9]{1,22})?\Z"),
    st.from_regex(r"\A[ \r\n]*8[0-9]{17,22}[A-Z]?[ \r\n]*\Z"),
    st.text(max_size=MAX_SCAN_LENGTH + 40),
)


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(any_text)
def test_classify_raises_nothing_but_scan_error_or_invalid_input(raw):
    try:
        scan = classify(raw)
    except (ScanError, InvalidInput):
        return
    answer = scan.to_dict()
    assert answer["kind"] in {"ecard", "ss_card", "id_card", "trace_code", "gs1", "prescription", "unknown"}
    assert answer["raw_length"] == len(raw)
    json.dumps(answer)   # the answer is always JSON-serialisable
    assert (scan.code is not None) == (scan.kind == "trace_code" or (scan.kind == "gs1" and
                                                                      answer["serial"] is not None and
                                                                      answer["gtin"] is not None))


gtin_bodies = st.text("0123456789", min_size=13, max_size=13)
expiries = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))
gs1_values = st.text(GS1_CHARS, min_size=1, max_size=20)


@st.composite
def gs1_packs(draw):
    body = draw(gtin_bodies)
    gtin = body + str(gs1_standard_check_digit(body))
    expiry = draw(expiries)
    day00 = draw(st.booleans()) and expiry.day == _last_day(expiry)
    yymmdd = expiry.strftime("%y%m") + ("00" if day00 else expiry.strftime("%d"))
    lot, serial = draw(gs1_values), draw(gs1_values)
    rest = draw(st.permutations([("17", yymmdd), ("10", lot), ("21", serial)]))
    elements = [("01", gtin), *rest]
    if draw(st.booleans()):
        raw = "".join(f"({ai}){value}" for ai, value in elements)
    else:
        raw = ""
        for i, (ai, value) in enumerate(elements):
            raw += ai + value + (GS if ai in ("10", "21") and i < len(elements) - 1 else "")
        raw = draw(st.sampled_from(["", "]d2", "]Q3", "]C1", GS])) + raw + draw(st.sampled_from(["", "\r\n"]))
    return raw, gtin, expiry, lot, serial


def _last_day(d: date) -> int:
    return calendar.monthrange(d.year, d.month)[1]


@settings(max_examples=400)
@given(gs1_packs())
def test_gs1_built_by_the_rules_round_trips(pack):
    raw, gtin, expiry, lot, serial = pack
    scan = classify(raw)
    assert scan.to_dict() == {"kind": "gs1", "raw_length": len(raw), "gtin": gtin, "expiry": expiry.isoformat(),
                              "lot": lot, "serial": serial, "code": f"01{gtin}21{serial}"}
    assert scan.expiry == expiry and scan.gtin == gtin


@settings(max_examples=200)
@given(gs1_packs())
def test_biip_reads_the_same_fields(pack):
    raw, gtin, _, lot, serial = pack
    if raw.startswith("("):
        message = GS1Message.parse_hri(raw)
    else:
        message = biip.parse(raw.strip()).gs1_message
    strings = message.element_strings
    assert (strings.get(ai="01").value, strings.get(ai="10").value, strings.get(ai="21").value) == (gtin, lot, serial)
    scan = classify(raw)
    assert (scan.gtin, scan.fields["lot"], scan.fields["serial"]) == (gtin, lot, serial)


@settings(max_examples=300)
@given(st.one_of(
    st.from_regex(r"\A[1-6][0-9]{16}[0-9X]\Z").map(lambda s: ("cert_no", s)),
    st.from_regex(r"\A[A-Z][0-9]{8}\Z").map(lambda s: ("card_no", s)),
    st.from_regex(r"\AECARD[0-9A-Za-z]{16,64}\Z").map(lambda s: ("token", s)),
    st.from_regex(r"\A[A-Za-z0-9]{9,64}\Z").map(lambda s: ("token", s))
    .map(lambda t: (t[0], t[1], f"https://ec.example.cn/v?ecToken={t[1]}&s=1")),
))
def test_answer_and_repr_never_contain_the_unmasked_identity(case):
    attribute, secret, *wrapped = case
    scan = classify(wrapped[0] if wrapped else secret)
    assert getattr(scan, attribute) == secret
    assert secret not in json.dumps(scan.to_dict(), ensure_ascii=False)
    assert secret not in repr(scan)
