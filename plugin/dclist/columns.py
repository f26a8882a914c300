"""The list's columns: the canonical Chinese headers, how a header cell is recognised, and per-region mappings.

Provinces spell headers their own way (``国家医保药品代码`` for ``医保目录编码``, ``医保支付标准（元）`` …) and name
categories their own way (``国谈门诊特病用药`` for Chongqing's TB). A mapping file ``config/lists/<name>.toml``
renames both; a header is compared after NFKC folding (full-width brackets and digits become ASCII), without
whitespace and without a trailing unit in brackets, so ``医保支付标准\\n(元)`` is ``医保支付标准``.
"""
from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from plugin.dclist.model import ListProblem, ListRefused

#: canonical header → field name of DualChannelEntry
CANONICAL: dict[str, str] = {
    "医保目录编码": "med_list_codg",
    "通用名": "generic_name",
    "药品名称": "drug_name",
    "剂型": "dosage_form",
    "规格": "spec",
    "类别": "category",
    "医保支付标准": "payment_standard",
    "协议开始日期": "agreement_start",
    "协议到期日期": "agreement_end",
    "过渡期截止日期": "transition_end",
    "药品追溯码前缀": "trace_prefixes",
    "拆零单位数": "split_units",
    "定点药店编码": "pharmacies",
}
OPTIONAL = frozenset({"过渡期截止日期", "药品追溯码前缀", "拆零单位数", "定点药店编码"})
REQUIRED = tuple(h for h in CANONICAL if h not in OPTIONAL)
#: a category label written with its class word is the class ("A类" → "A", "乙类" is not a dual-channel class)
_CLASS_SUFFIX = re.compile(r"^([A-Za-z][A-Za-z0-9]{0,3})类$")
_UNIT_SUFFIX = re.compile(r"\((元|人民币元|元/盒|元/支|yyyy-mm-dd|年-月-日|[^()]{0,8}日期格式)\)$", re.IGNORECASE)


def fold(text: str) -> str:
    """A header as compared: NFKC, no whitespace, no trailing unit such as "(元)"."""
    folded = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    return _UNIT_SUFFIX.sub("", folded)


@dataclass(frozen=True)
class Mapping:
    """Header spellings and category labels of one region's published list."""

    name: str = "canonical"
    headers: dict[str, str] = field(default_factory=dict)      # folded province spelling → canonical header
    categories: dict[str, str] = field(default_factory=dict)   # folded label → category key

    def canonical(self, header: str) -> str | None:
        """The canonical header a cell's text stands for, or None."""
        folded = fold(header)
        if not folded:
            return None
        if folded in CANONICAL:
            return folded
        return self.headers.get(folded)

    def category(self, label: str) -> str:
        """A category cell → the key it stands for (unchanged when no label matches; the caller checks the set)."""
        folded = fold(label)
        if folded in self.categories:
            return self.categories[folded]
        m = _CLASS_SUFFIX.match(folded)
        if m:
            folded = m.group(1)
        return folded.upper() if folded.isascii() else folded


def lists_dir() -> Path:
    from plugin.config import CONFIG_DIR
    return CONFIG_DIR / "lists"


def known_mappings() -> list[str]:
    return sorted(p.stem for p in lists_dir().glob("*.toml"))


def load_mapping(name_or_path: str | Path | None) -> Mapping:
    """``None`` or "" → the canonical headers only; a name → ``config/lists/<name>.toml``; else a file path.

    A region with no mapping file publishes canonical headers; callers pass the region name and get the canonical
    mapping back when no file exists for it (``load_region_mapping``). Raises ListRefused (LIST_UNREADABLE) for a
    file that does not parse or maps a header to something that is not canonical."""
    if not name_or_path:
        return Mapping()
    text = str(name_or_path)
    path = Path(text) if ("/" in text or text.endswith(".toml")) else lists_dir() / f"{text}.toml"
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ListRefused([ListProblem(0, "", f"header mapping {path}: {exc.strerror or exc}",
                                       f"无法读取列名映射文件 {path}")],
                          unreadable=True) from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ListRefused([ListProblem(0, "", f"header mapping {path}: not valid TOML: {exc}",
                                       f"列名映射文件 {path} 不是有效的 TOML")],
                          unreadable=True) from None
    return mapping_from_data(data, path.stem)


def load_region_mapping(region: str) -> Mapping:
    """The region's mapping file when one is shipped, else the canonical headers."""
    if region and (lists_dir() / f"{region}.toml").is_file():
        return load_mapping(region)
    return Mapping()


def mapping_from_data(data: dict, name: str) -> Mapping:
    headers_in = data.get("headers", {})
    labels_in = data.get("categories", {})
    problems = []
    if not isinstance(headers_in, dict) or not isinstance(labels_in, dict):
        problems.append(ListProblem(0, "", f"header mapping {name}: [headers] and [categories] must be tables",
                                    f"列名映射 {name}：[headers] 和 [categories] 必须是表"))
        raise ListRefused(problems, unreadable=True)
    headers: dict[str, str] = {}
    for spelled, canonical in headers_in.items():
        if not isinstance(canonical, str) or fold(canonical) not in CANONICAL:
            problems.append(ListProblem(0, "", f"header mapping {name}: {spelled!r} maps to {canonical!r}, "
                                               f"which is not a canonical column ({', '.join(CANONICAL)})",
                                        f"列名映射 {name}：“{spelled}”映射到的“{canonical}”不是标准列名"))
            continue
        headers[fold(spelled)] = fold(canonical)
    categories = {fold(k): str(v).strip() for k, v in labels_in.items() if isinstance(v, str) and v.strip()}
    if problems:
        raise ListRefused(problems, unreadable=True)
    return Mapping(name=name, headers=headers, categories=categories)
