"""The chain inventory: one CSV row per store, read and checked as a whole.

Columns: ``store_id, fixmedins_code, fixmedins_name, region, host, devices`` (``devices`` may be left out when no
store has configured devices). HQ edits this file by hand for
thousands of counters, so every row is checked and *every* bad row is reported with its CSV line number — a rollout
that half-applies because row 4,812 had a typo is worse than one that refuses to start.

The ``devices`` cell is a compact list of devices separated by ``;``, each written ``name:kind[@model]:url[:framing]``:

    scanner-1:scanner:/dev/ttyACM0:cr;reader-1:card_reader@dc-t10:/dev/ttyUSB0;printer-1:printer:tcp://10.0.0.5:9100

``kind`` is ``scanner``, ``card_reader`` or ``printer``; ``url`` is any pyserial (or printer) URL and may itself hold
colons; the last ``:``-separated field is taken as the framing only when it is one of ``cr lf crlf stx_etx timeout``
(so ``tcp://10.0.0.5:9100`` stays a URL). An empty cell means no configured devices (keyboard-wedge scanners need
none, docs/hardware.md).

``host`` is the counter PC's host name or address, optionally with the port rxlane listens on when it is not 8600:
``10.36.1.21:8601``, ``pos-3.store.lan:8601``, ``[fd00::21]:8601`` (a bare IPv6 address takes no port).
"""
from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from collections.abc import Iterable

COLUMNS = ("store_id", "fixmedins_code", "fixmedins_name", "region", "host", "devices")
OPTIONAL_COLUMNS = ("devices",)
FRAMINGS = ("cr", "lf", "crlf", "stx_etx", "timeout")
KINDS = ("scanner", "card_reader", "printer")
STORE_ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")   # becomes a file name: no slashes, no dot-dot
CODE_RE = re.compile(r"^[A-Za-z0-9]{12}$")
HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$|^\[?[0-9A-Fa-f:]+\]?$")
DEVICE_NAME_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
MODEL_RE = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")


@dataclass(frozen=True)
class StoreRow:
    line: int                      # the CSV line number of the row (1 = the header)
    store_id: str
    fixmedins_code: str
    fixmedins_name: str
    region: str
    host: str
    devices: tuple[dict[str, str], ...] = ()
    port: int | None = None        # the port rxlane listens on when the host cell names one


@dataclass(frozen=True)
class RowProblem:
    line: int
    store_id: str
    reason: str

    def __str__(self) -> str:
        who = f" ({self.store_id})" if self.store_id else ""
        return f"line {self.line}{who}: {self.reason}"


@dataclass
class Inventory:
    rows: list[StoreRow] = field(default_factory=list)
    problems: list[RowProblem] = field(default_factory=list)
    source: str = ""               # the CSV's file name, quoted in each generated file's header

    @property
    def ok(self) -> bool:
        return not self.problems


class DeviceSyntaxError(ValueError):
    pass


def parse_devices(cell: str) -> tuple[dict[str, str], ...]:
    """``name:kind[@model]:url[:framing];…`` → device tables in the store config's ``[[devices]]`` shape."""
    devices: list[dict[str, str]] = []
    seen: set[str] = set()
    for n, item in enumerate(p.strip() for p in (cell or "").split(";")):
        if not item:
            continue
        parts = item.split(":", 2)
        if len(parts) < 3 or not parts[2]:
            raise DeviceSyntaxError(f"device {n + 1} {item!r}: expected name:kind:url[:framing]")
        name, kind_model, rest = parts
        kind, _, model = kind_model.partition("@")
        if not DEVICE_NAME_RE.match(name):
            raise DeviceSyntaxError(f"device {n + 1}: name {name!r} must be 1–40 letters, digits, '_', '-', '.'")
        if kind not in KINDS:
            raise DeviceSyntaxError(f"device {name}: kind {kind!r} is not one of {', '.join(KINDS)}")
        if model and not MODEL_RE.match(model):
            raise DeviceSyntaxError(f"device {name}: model {model!r} is not a model name")
        url, framing = rest, ""
        head, sep, tail = rest.rpartition(":")
        if sep and tail in FRAMINGS and head:
            url, framing = head, tail
        if name in seen:
            raise DeviceSyntaxError(f"device {name}: named twice")
        seen.add(name)
        device = {"name": name, "kind": kind, "url": url}
        if framing:
            device["framing"] = framing
        if model:
            device["model"] = model
        devices.append(device)
    return tuple(devices)


def format_devices(devices: Iterable[dict[str, Any]]) -> str:
    """The inverse of :func:`parse_devices` (used to generate inventories)."""
    out = []
    for d in devices:
        kind = d["kind"] + (f"@{d['model']}" if d.get("model") else "")
        out.append(f"{d['name']}:{kind}:{d['url']}" + (f":{d['framing']}" if d.get("framing") else ""))
    return ";".join(out)


def _check_row(cells: dict[str, str], regions: set[str]) -> list[str]:
    reasons = []
    if not STORE_ID_RE.match(cells["store_id"]):
        reasons.append(f"store_id {cells['store_id']!r} must be 1–64 letters, digits, '_', '-', '.' "
                       "(it names the store's config file)")
    if not CODE_RE.match(cells["fixmedins_code"]):
        reasons.append(f"fixmedins_code {cells['fixmedins_code']!r} must be 12 letters or digits")
    if not cells["fixmedins_name"]:
        reasons.append("fixmedins_name is empty")
    if cells["region"] not in regions:
        reasons.append(f"region {cells['region']!r} has no policy file (known: {', '.join(sorted(regions))})")
    try:
        split_host(cells["host"])
    except ValueError as exc:
        reasons.append(str(exc))
    return reasons


_HOST_PORT = re.compile(r"^(?:\[([0-9A-Fa-f:]+)\]|([A-Za-z0-9][A-Za-z0-9.-]{0,252})):(\d{1,5})$")


def split_host(cell: str) -> tuple[str, int | None]:
    """``host`` or ``host:port`` (``[v6]:port``) → (host, port or None); raises ValueError naming the fault."""
    m = _HOST_PORT.match(cell)
    if m:
        port = int(m.group(3))
        if not 1 <= port <= 65535:
            raise ValueError(f"host {cell!r}: port {port} is not between 1 and 65535")
        return m.group(1) or m.group(2), port
    if not HOST_RE.match(cell):
        raise ValueError(f"host {cell!r} is not a host name or IP address (optionally with :port)")
    return cell, None


def known_regions() -> set[str]:
    """Regions with a shipped policy file (config/policies/*.toml)."""
    try:
        from plugin.policy import list_regions
        return set(list_regions())
    except ImportError:  # the policy package not installed: read the directory directly
        from plugin.config import CONFIG_DIR
        return {p.stem for p in (CONFIG_DIR / "policies").glob("*.toml")}


def read_inventory(path: str | Path, regions: set[str] | None = None) -> Inventory:
    """Read and check every row; duplicates of store_id, fixmedins_code or host are problems on each later row."""
    regions = known_regions() if regions is None else regions
    inv = Inventory(source=Path(path).name)
    try:
        fh = open(path, newline="", encoding="utf-8-sig")
    except OSError as exc:
        inv.problems.append(RowProblem(0, "", f"cannot read {path}: {exc.strerror or exc}"))
        return inv
    with fh:
        reader = csv.DictReader(fh, skipinitialspace=True)
        header = [h.strip() for h in (reader.fieldnames or [])]
        missing = [c for c in COLUMNS if c not in header and c not in OPTIONAL_COLUMNS]
        if missing:
            inv.problems.append(RowProblem(1, "", f"header lacks column(s): {', '.join(missing)}"))
            return inv
        reader.fieldnames = header
        first_seen: dict[tuple[str, str], int] = {}
        for record in reader:
            # the line the record ends on: exact for one-line rows, and blank lines before it are counted
            start = reader.line_num
            if None in record:
                inv.problems.append(RowProblem(start, (record.get("store_id") or "").strip(),
                                               f"{len(header) + len(record[None])} cells, "
                                               f"the header has {len(header)}"))
                continue
            cells = {c: (record.get(c) or "").strip() for c in COLUMNS}
            if not any(cells.values()):
                continue
            reasons = _check_row(cells, regions)
            for column in ("store_id", "fixmedins_code", "host"):
                key = (column, cells[column].lower())
                if cells[column] and key in first_seen:
                    reasons.append(f"duplicate {column} {cells[column]!r} (first on line {first_seen[key]})")
                else:
                    first_seen.setdefault(key, start)
            try:
                devices = parse_devices(cells["devices"])
            except DeviceSyntaxError as exc:
                reasons.append(f"devices: {exc}")
                devices = ()
            if reasons:
                inv.problems.extend(RowProblem(start, cells["store_id"], r) for r in reasons)
                continue
            host, port = split_host(cells["host"])
            inv.rows.append(StoreRow(start, cells["store_id"], cells["fixmedins_code"], cells["fixmedins_name"],
                                     cells["region"], host, devices, port))
    if not inv.rows and not inv.problems:
        inv.problems.append(RowProblem(1, "", "the inventory has no stores"))
    return inv
