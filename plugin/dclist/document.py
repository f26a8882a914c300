"""The normalised list document: what `rxlane catalog import` installs, what HQ publishes and stores download.

One JSON object, UTF-8, one drug per line so two versions diff line by line::

    {"format": "rxlane-dual-channel-list", "format_version": 1,
     "meta": {"source": …, "publication_date": "2026-01-01", "imported_at": …, "original_name": …,
              "sha256": <of the province's file>, "rows": 2, "region": …, "mapping": …},
     "entries": [
    {"med_list_codg": "XL01…", "payment_standard": "1234.50", "agreement_end": "2027-12-31", …},
    …]}

The document's own sha256 is the list's *version*: HQ advertises it, a store verifies a download against it and
reports the one it runs. Reading a document checks every entry again with the file parser's rules.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Any
from collections.abc import Iterable

from plugin.dclist import parse
from plugin.dclist.model import DualChannelEntry, DualChannelList, ListMeta, ListProblem, ListRefused

FORMAT = "rxlane-dual-channel-list"
FORMAT_VERSION = 1


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def build_document(entries: Iterable[DualChannelEntry], meta: ListMeta) -> bytes:
    head = json.dumps({"format": FORMAT, "format_version": FORMAT_VERSION, "meta": meta.to_json()},
                      ensure_ascii=False, separators=(",", ":"))
    rows = ",\n".join(json.dumps(e.to_json(), ensure_ascii=False, separators=(",", ":")) for e in entries)
    return (head[:-1] + ',"entries":[\n' + rows + "\n]}\n").encode("utf-8")


def _refuse(reason: str, line: int = 0) -> ListRefused:
    return ListRefused([ListProblem(line, "", f"not an rxlane dual-channel list document: {reason}",
                                    f"不是 rxlane 双通道目录文件：{reason}")], unreadable=True)


def _meta(d: Any) -> ListMeta:
    if not isinstance(d, dict):
        raise _refuse("meta is not an object")
    published = d.get("publication_date")
    try:
        return ListMeta(source=str(d.get("source") or ""),
                        publication_date=date.fromisoformat(published) if published else None,
                        imported_at=str(d.get("imported_at") or ""), original_name=str(d.get("original_name") or ""),
                        sha256=str(d.get("sha256") or ""), rows=int(d.get("rows") or 0),
                        region=str(d.get("region") or ""), mapping=str(d.get("mapping") or ""))
    except (TypeError, ValueError):
        raise _refuse("meta has a bad date or row count") from None


def _entry(n: int, d: Any) -> DualChannelEntry:
    if not isinstance(d, dict):
        raise _refuse(f"entry {n} is not an object")
    try:
        transition = d.get("transition_end")
        split_units = d.get("split_units")
        entry = DualChannelEntry(
            med_list_codg=str(d["med_list_codg"]), generic_name=str(d["generic_name"]),
            drug_name=str(d.get("drug_name") or ""), dosage_form=str(d.get("dosage_form") or ""),
            spec=str(d.get("spec") or ""), category=str(d["category"]),
            payment_standard=parse.money(str(d["payment_standard"])),
            agreement_start=parse.day(str(d["agreement_start"])), agreement_end=parse.day(str(d["agreement_end"])),
            transition_end=parse.day(str(transition)) if transition else None,
            trace_prefixes=tuple(str(p) for p in d.get("trace_prefixes") or ()),
            gtins=tuple(str(g) for g in d.get("gtins") or ()),
            split_units=parse.whole(str(split_units)) if split_units is not None else None,
            pharmacies=tuple(str(p) for p in d.get("pharmacies") or ()), line=int(d.get("line") or 0))
    except KeyError as exc:
        raise _refuse(f"entry {n} lacks {exc.args[0]}") from None
    except (parse.CellError, TypeError, ValueError) as exc:
        raise _refuse(f"entry {n}: {exc}") from None
    if not parse.CODE_RE.match(entry.med_list_codg) or not entry.generic_name or not entry.category:
        raise _refuse(f"entry {n} has no valid code, generic name or category")
    return entry


def parse_document(data: bytes) -> DualChannelList:
    """Bytes of a document → the list (with ``document_sha256``); raises ListRefused (LIST_UNREADABLE)."""
    try:
        doc = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise _refuse("not UTF-8 JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise _refuse(f"format is not {FORMAT!r}")
    if doc.get("format_version") != FORMAT_VERSION:
        raise _refuse(f"format_version {doc.get('format_version')!r} is not {FORMAT_VERSION} (a newer rxlane?)")
    raw_entries = doc.get("entries")
    if not isinstance(raw_entries, list) or not raw_entries:
        raise _refuse("it holds no entries")
    entries = [_entry(n, d) for n, d in enumerate(raw_entries, 1)]
    codes = [e.med_list_codg for e in entries]
    if len(set(codes)) != len(codes):
        raise _refuse("a national list code appears twice")
    return DualChannelList(entries=tuple(entries), meta=_meta(doc.get("meta")), document_sha256=sha256(data))
