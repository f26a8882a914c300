"""`rxlane catalog import FILE` and `rxlane catalog show`: the province's published dual-channel list
(docs/dual-channel-list.md)."""
from __future__ import annotations

import json
from collections import Counter
from datetime import date
from pathlib import Path

import click

from plugin.errors import InvalidInput, RxlaneError

_common = [click.option("--config", "config_file", type=click.Path(dir_okay=False), help="Store config file (TOML)."),
           click.option("--data-dir", type=click.Path(file_okay=False), help="Where the list is installed.")]


def common(f):
    for option in reversed(_common):
        f = option(f)
    return f


#: What `rxlane catalog import` and `rxlane hq publish-list` both read: the province's FILE, where it comes from,
#: its date, and the region and header mapping it is read with (the arguments of ``import_file``).
_list_file = [click.argument("file", type=click.Path(dir_okay=False)),
              click.option("--source",
                           help="Where the list comes from, e.g. the notice's number (default: the file name)."),
              click.option("--date", "when", help="The list's publication date, YYYY-MM-DD."),
              click.option("--region",
                           help="Region whose categories and header mapping apply (default: [store] region)."),
              click.option("--mapping", "mapping_name",
                           help="A header mapping: a name in config/lists/ or a TOML file.")]


def list_file_options(f):
    """FILE, --source, --date, --region, --mapping, in that order: ``f(file, source, when, region, mapping_name,
    …)``."""
    for option in reversed(_list_file):
        f = option(f)
    return f


def _publication_date(value: str | None) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput(f"--date: {value!r} is not a date written YYYY-MM-DD",
                           f"--date 应为 YYYY-MM-DD 格式的日期：{value}", field="date") from None


def region_rules(settings, region: str | None, mapping_name: str | None):
    """(mapping, category keys, region name) for an import: the region's policy gives the allowed categories, its
    file in config/lists/ (if any) the header spellings; --mapping names another mapping file."""
    from plugin.dclist import load_mapping, load_region_mapping
    from plugin.policy import load_region
    from plugin.service import store_policy
    policy = load_region(region) if region else store_policy(settings)
    name = region or policy.region
    mapping = load_mapping(mapping_name) if mapping_name else load_region_mapping(name)
    return mapping, sorted(policy.categories), name


def import_file(settings, path: str, *, source: str | None, when: str | None, region: str | None,
                mapping_name: str | None):
    """Read and validate the province's file → an Imported list (nothing installed yet)."""
    from plugin.dclist import read_file_bytes, read_province_file
    published = _publication_date(when)
    mapping, categories, region_name = region_rules(settings, region, mapping_name)
    return read_province_file(read_file_bytes(path), Path(path).name, mapping=mapping, categories=categories,
                              source=source or "", publication_date=published, region=region_name)


def list_summary(installed, path: Path | None = None) -> dict:
    meta = installed.meta.to_json() if installed.meta else {}
    out = {"version": installed.document_sha256, "rows": len(installed), "meta": meta,
           "categories": dict(sorted(Counter(e.category for e in installed).items()))}
    if path is not None:
        out["path"] = str(path)
    return out


@click.command("import")
@list_file_options
@common
def catalog_import(file, source, when, region, mapping_name, config_file, data_dir) -> None:
    """Import the province's dual-channel list (CSV or XLSX): all rows good, or nothing changes (exit 2)."""
    from plugin.cli import _fail, _settings
    from plugin.dclist import install_document, installed_path
    from plugin.service import data_dir as resolve_dir
    settings = _settings(config_file, server__data_dir=data_dir)
    target = installed_path(resolve_dir(settings), settings.catalog.list_file)
    try:
        imported = import_file(settings, file, source=source, when=when, region=region, mapping_name=mapping_name)
        installed = install_document(target, imported.document)
    except RxlaneError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(RxlaneError("LIST_UNREADABLE", f"cannot install the list at {target}: {exc.strerror or exc}",
                          f"无法写入双通道药品目录：{target}"))
    table = imported.table
    click.echo(json.dumps({"ok": True, **list_summary(installed, target),
                           "read": {"kind": table.kind, "encoding": table.encoding, "sheet": table.sheet,
                                    "header_line": table.header_line, "ignored_columns": table.ignored}},
                          ensure_ascii=False, indent=2))


@click.command("show")
@common
def catalog_show(config_file, data_dir) -> None:
    """Print the installed dual-channel list's source, date, version and size (exit 1 when none is installed)."""
    import sys

    from plugin.cli import _fail, _settings
    from plugin.dclist import installed_path, load_installed_list
    from plugin.service import data_dir as resolve_dir
    settings = _settings(config_file, server__data_dir=data_dir)
    directory = resolve_dir(settings)
    path = installed_path(directory, settings.catalog.list_file)
    try:
        installed = load_installed_list(directory, settings.catalog.list_file)
    except RxlaneError as exc:
        _fail(exc)
    if installed is None:
        click.echo(json.dumps({"installed": False, "path": str(path)}, ensure_ascii=False, indent=2))
        sys.exit(1)
    click.echo(json.dumps({"installed": True, **list_summary(installed, path)}, ensure_ascii=False, indent=2))
