"""One sale per pack at scale (issue 6): the duplicate check's p99 with millions of sold codes in the ledger, and
the ledger's size on disk per million codes.

Baseline, same run and same ledger: the bare index probe `SELECT 1 FROM trace_codes WHERE code = ?`; the figure is
the check rxlane really runs before taking a pack (`ledger.trace_codes.holders`, a join naming the holding sale).
Target: p99 < 1 ms with 10,000,000 codes. Codes are inserted through the ledger's own schema in bulk (the API
would take days for ten million packs).
"""
from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from plugin.store import Ledger, now

CHUNK = 200_000


def _fill(ledger: Ledger, n: int) -> None:
    stamp = now()
    with ledger.transaction() as c:
        c.execute("INSERT INTO patients VALUES ('Pbench', 'psn', '02', 'x', '', '{}', '[]', ?)", (stamp,))
        c.execute("INSERT INTO sales (id, created_at, updated_at, biz_date, state, patient_ref, psn_no, insutype, "
                  "acct_used, medfee_sumamt) VALUES ('Sbench', ?, ?, ?, 'settled', 'Pbench', 'psn', '310', 1, "
                  "'0.00')", (stamp, stamp, stamp[:10]))
    for start in range(0, n, CHUNK):
        rows = [("Sbench", 1, f"869{i:017d}", f"869{i:017d}", "trace_code", stamp)
                for i in range(start, min(n, start + CHUNK))]
        with ledger.transaction(durable=False) as c:
            c.executemany("INSERT INTO trace_codes (sale_id, line_no, code, raw, kind, created_at) "
                          "VALUES (?,?,?,?,?,?)", rows)
    ledger.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def _p(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def _time(fn, codes: list[str]) -> list[float]:
    out = []
    for code in codes:
        started = time.perf_counter()
        fn(code)
        out.append((time.perf_counter() - started) * 1000)
    return out


def run(quick: bool = False) -> dict:
    n = 20_000 if quick else 10_000_000
    probes = 2_000 if quick else 20_000
    with tempfile.TemporaryDirectory() as tmp:
        ledger = Ledger(Path(tmp) / "ledger.sqlite3")
        empty = sum(p.stat().st_size for p in Path(tmp).iterdir())
        started = time.perf_counter()
        _fill(ledger, n)
        fill_s = time.perf_counter() - started
        size = sum(p.stat().st_size for p in Path(tmp).iterdir()) - empty
        rng = random.Random(7)
        codes = [f"869{rng.randrange(n * 2):017d}" for _ in range(probes)]   # half sold, half new
        conn = ledger.conn
        baseline = _time(lambda c: conn.execute("SELECT 1 FROM trace_codes WHERE code = ?", (c,)).fetchone(), codes)
        check = _time(lambda c: ledger.trace_codes.holders(conn, c), codes)
        ledger.close()
    return {
        "codes_in_ledger": n,
        "duplicate_check_ms_p50": round(_p(check, 0.50), 4),
        "duplicate_check_ms_p99": round(_p(check, 0.99), 4),
        "baseline_index_probe_ms_p50": round(_p(baseline, 0.50), 4),
        "baseline_index_probe_ms_p99": round(_p(baseline, 0.99), 4),
        "ratio_p99": round(_p(check, 0.99) / max(_p(baseline, 0.99), 1e-9), 2),
        "ledger_mb_per_million_codes": round(size / 1e6 / (n / 1e6), 1),
        "fill_s": round(fill_s, 1),
        "target_p99_ms": 1.0,
    }


if __name__ == "__main__":
    import json
    print(json.dumps(run(), indent=2))
