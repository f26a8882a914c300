"""Typed values of a province's published dual-channel drug list (双通道药品目录) and the refusal that lists every
bad row.

The insurer's gateway never sends a drug's dual-channel category, payment standard, agreement end or transition end
(docs/dual-channel-list.md, "where the data comes from"); these objects carry them from the province's file to the
rules. Money is ``Decimal`` (yuan, at most two decimals), dates are ``date``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any
from collections.abc import Iterable

from plugin.errors import RxlaneError

#: How many problems a refusal carries in full; a file with more is wrong from top to bottom anyway.
MAX_REPORTED = 2000


@dataclass(frozen=True)
class DualChannelEntry:
    """One drug of the list. ``line`` is where it was in the province's file (CSV line or sheet row)."""

    med_list_codg: str                 # 医保目录编码: the national list code, the key of every sale line
    generic_name: str                  # 通用名
    drug_name: str                     # 药品名称 (may be empty where a province lists generic names only)
    dosage_form: str                   # 剂型
    spec: str                          # 规格
    category: str                      # 类别, a category key of the region's policy (Jiangxi A/B/C, Chongqing TB/BZ…)
    payment_standard: Decimal          # 医保支付标准, yuan, two decimals
    agreement_start: date              # 协议开始日期
    agreement_end: date                # 协议到期日期
    transition_end: date | None = None           # 过渡期截止日期
    trace_prefixes: tuple[str, ...] = ()         # 药品追溯码前缀: domestic product prefixes (digits)
    gtins: tuple[str, ...] = ()                  # …and GS1 GTIN-14s of the drug's packs
    split_units: int | None = None               # 拆零单位数: units per pack when sold split
    pharmacies: tuple[str, ...] = ()             # designated pharmacies (fixmedins codes) where the province names them
    line: int = 0

    def to_json(self) -> dict[str, Any]:
        """The normalised record (strings for money and dates) kept in the installed list."""
        return {
            "med_list_codg": self.med_list_codg, "generic_name": self.generic_name, "drug_name": self.drug_name,
            "dosage_form": self.dosage_form, "spec": self.spec, "category": self.category,
            "payment_standard": f"{self.payment_standard:.2f}", "agreement_start": self.agreement_start.isoformat(),
            "agreement_end": self.agreement_end.isoformat(),
            "transition_end": self.transition_end.isoformat() if self.transition_end else None,
            "trace_prefixes": list(self.trace_prefixes), "gtins": list(self.gtins), "split_units": self.split_units,
            "pharmacies": list(self.pharmacies), "line": self.line,
        }

    def to_catalog_mapping(self) -> dict[str, Any]:
        """The shape ``plugin.eligibility.CatalogEntry.from_mapping`` reads, so the rules can take this entry."""
        return {
            "med_list_codg": self.med_list_codg, "generic_name": self.generic_name,
            "drug_name": self.drug_name or self.generic_name, "spec": self.spec, "category": self.category,
            "payment_standard": f"{self.payment_standard:.2f}", "agreement_end": self.agreement_end.isoformat(),
            "transition_end": self.transition_end.isoformat() if self.transition_end else None,
            "trace_prefixes": list(self.trace_prefixes), "gtins": list(self.gtins), "split_units": self.split_units,
        }


@dataclass(frozen=True)
class ListMeta:
    """Where an installed list came from. ``sha256`` is of the province's original file."""

    source: str                        # e.g. "江西省医疗保障局 赣医保字〔2026〕3号 附件1"
    publication_date: date | None      # the province's publication date, as the importer gave it
    imported_at: str                   # ISO 8601 with offset, when it was validated and installed
    original_name: str
    sha256: str
    rows: int
    region: str = ""
    mapping: str = ""                  # the header mapping used ("canonical" or config/lists/<name>.toml)

    def to_json(self) -> dict[str, Any]:
        return {"source": self.source,
                "publication_date": self.publication_date.isoformat() if self.publication_date else None,
                "imported_at": self.imported_at, "original_name": self.original_name, "sha256": self.sha256,
                "rows": self.rows, "region": self.region, "mapping": self.mapping}


@dataclass(frozen=True)
class DualChannelList:
    """A whole validated list: look a drug up with ``entry(med_list_codg)``."""

    entries: tuple[DualChannelEntry, ...]
    meta: ListMeta | None = None
    document_sha256: str = ""          # sha256 of the installed JSON document (the version a store reports)
    _by_code: dict[str, DualChannelEntry] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_code.update((e.med_list_codg, e) for e in self.entries)

    def entry(self, med_list_codg: str) -> DualChannelEntry | None:
        return self._by_code.get(med_list_codg)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        return iter(self.entries)


@dataclass(frozen=True)
class ListProblem:
    """One fault: ``line`` 0 is the file as a whole; ``column`` is the canonical column name, or ""."""

    line: int
    column: str
    reason: str
    reason_zh: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "reason": self.reason,
                "reason_zh": self.reason_zh or self.reason}

    def __str__(self) -> str:
        where = f"line {self.line}" if self.line else "file"
        return f"{where}{f' [{self.column}]' if self.column else ''}: {self.reason}"

    def zh(self) -> str:
        where = f"第 {self.line} 行" if self.line else "文件"
        return f"{where}{f'［{self.column}］' if self.column else ''}：{self.reason_zh or self.reason}"


class ListRefused(RxlaneError):
    """The whole list is refused; ``problems`` names every bad row and column. Nothing was installed."""

    def __init__(self, problems: Iterable[ListProblem], *, unreadable: bool = False):
        self.problems = list(problems)
        shown = self.problems[:MAX_REPORTED]
        first = str(self.problems[0]) if self.problems else "no problems given"
        first_zh = self.problems[0].zh() if self.problems else "未给出原因"
        details: dict[str, Any] = {"count": len(self.problems), "problems": [p.to_json() for p in shown]}
        if len(self.problems) > len(shown):
            details["not_shown"] = len(self.problems) - len(shown)
        if unreadable:
            super().__init__("LIST_UNREADABLE", f"The dual-channel list cannot be read: {first}",
                             f"无法读取双通道药品目录：{first_zh}", details)
        else:
            super().__init__("LIST_INVALID",
                             f"The dual-channel list has {len(self.problems)} problem(s); nothing was imported. "
                             f"First: {first}",
                             f"双通道药品目录有 {len(self.problems)} 处错误，未导入任何内容，"
                             f"原目录继续使用。第一处：{first_zh}",
                             details)
