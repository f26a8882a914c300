"""The province's published dual-channel drug list (双通道药品目录): read a CSV or XLSX file with Chinese headers,
refuse it whole with every bad row named, install it all-or-nothing, load the installed one.

    imported = read_province_file(data, "list.xlsx", mapping=load_region_mapping("jiangxi"), categories={"A", "B", "C"})
    install_document(installed_path(data_dir), imported.document)
    load_installed_list(data_dir).entry("XL01XEA123A001010104445")

Columns, mappings and errors: docs/dual-channel-list.md. No Flask, no SQLite here.
"""
from plugin.dclist.columns import CANONICAL, Mapping, known_mappings, load_mapping, load_region_mapping
from plugin.dclist.document import build_document, parse_document
from plugin.dclist.install import (
                                   LIST_FILE_NAME,
                                   Imported,
                                   InstalledList,
                                   install_document,
                                   installed_path,
                                   load_installed_list,
                                   read_file_bytes,
                                   read_province_file,
)
from plugin.dclist.model import DualChannelEntry, DualChannelList, ListMeta, ListProblem, ListRefused

__all__ = ["CANONICAL", "LIST_FILE_NAME", "DualChannelEntry", "DualChannelList", "Imported", "InstalledList",
           "ListMeta", "ListProblem", "ListRefused", "Mapping", "build_document", "install_document",
           "installed_path", "known_mappings", "load_installed_list", "load_mapping", "load_region_mapping",
           "parse_document", "read_file_bytes", "read_province_file"]
