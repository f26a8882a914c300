"""Install a validated list all-or-nothing, and load the installed one.

The installed list is one file, by default ``<data dir>/dual-channel-list.json`` (``[catalog] list_file`` names
another). Installing writes the whole document to a temporary file beside it (mode 0600), fsyncs it, renames it over
the old one and fsyncs the directory: a reader sees the old list or the new one, never a mix, and a refused or
interrupted import leaves the old list in place.
"""
from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import date, datetime, UTC
from pathlib import Path
from collections.abc import Iterable

from plugin.dclist.columns import Mapping
from plugin.dclist.document import build_document, parse_document, sha256
from plugin.dclist.model import DualChannelList, ListMeta, ListProblem, ListRefused
from plugin.dclist.parse import parse_table
from plugin.dclist.sheet import Table, read_table

LIST_FILE_NAME = "dual-channel-list.json"


def installed_path(data_dir: str | Path, list_file: str = "") -> Path:
    """``[catalog] list_file`` when set, else the file in the data dir."""
    return Path(list_file) if list_file else Path(data_dir) / LIST_FILE_NAME


@dataclass(frozen=True)
class Imported:
    """A province file read and validated: the list, its normalised document, and how the file was read."""

    list: DualChannelList
    document: bytes
    table: Table


def read_province_file(data: bytes, name: str, *, mapping: Mapping, categories: Iterable[str], source: str = "",
                       publication_date: date | None = None, region: str = "",
                       now: datetime | None = None) -> Imported:
    """The province's CSV/XLSX bytes → an Imported list; raises ListRefused naming every problem."""
    table = read_table(data, mapping, name)
    entries = parse_table(table, mapping, categories)
    meta = ListMeta(source=source or name, publication_date=publication_date,
                    imported_at=(now or datetime.now(UTC).astimezone()).isoformat(timespec="seconds"),
                    original_name=name, sha256=sha256(data), rows=len(entries), region=region,
                    mapping=mapping.name)
    document = build_document(entries, meta)
    return Imported(list=parse_document(document), document=document, table=table)


def read_file_bytes(path: str | Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise ListRefused([ListProblem(0, "", f"cannot read {path}: {exc.strerror or exc}", f"无法读取文件 {path}")],
                          unreadable=True) from None


def install_document(target: str | Path, document: bytes) -> DualChannelList:
    """Validate ``document`` and put it at ``target`` atomically (0600); returns the installed list."""
    installed = parse_document(document)
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(document)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    _fsync_dir(target.parent)
    return installed


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_installed_list(data_dir: str | Path, list_file: str = "") -> DualChannelList | None:
    """The installed list, or None when none was ever installed. A damaged file raises ListRefused
    (LIST_UNREADABLE): the caller decides whether to run without the list or stop."""
    path = installed_path(data_dir, list_file)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ListRefused([ListProblem(0, "", f"cannot read {path}: {exc.strerror or exc}", f"无法读取文件 {path}")],
                          unreadable=True) from None
    return parse_document(data)


class InstalledList:
    """The installed list for a long-running service: re-read only when the file changed (an import, or a list
    pulled from HQ, replaces it by rename, which changes its inode and mtime)."""

    def __init__(self, data_dir: str | Path, list_file: str = ""):
        self.path = installed_path(data_dir, list_file)
        self._stamp: tuple[int, int, int] | None = None
        self._list: DualChannelList | None = None

    def current(self) -> DualChannelList | None:
        try:
            st = self.path.stat()
        except FileNotFoundError:
            self._stamp, self._list = None, None
            return None
        stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        if stamp != self._stamp:
            self._list = load_installed_list(self.path.parent, str(self.path))
            self._stamp = stamp
        return self._list
