"""Stand-in vendor libraries compiled from C with the machine's compiler, and helpers that steer them.

Each stand-in has the exported signature of the real thing (`iReadCardBas`, `INIT`/`BUSINESS_HANDLE`,
`NationEcTrans`) and reads what to do from a control file in its own folder, so the tests run rxlane's real ctypes
path in a real worker process against code that behaves like a vendor's: a card present, absent or unreadable, GBK
text, a hang, a segfault, an answer longer than the buffer. Import the fixtures into a test module:

    from tests.standins import card_library, standins  # noqa: F401
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
NUL = bytes(1)
#: name → (source, extra compiler flags)
VARIANTS = {
    "sscard": ("sscard.c", []),
    "sscard_noread": ("sscard.c", ["-DNO_READ"]),
    "sscard_ctor_crash": ("sscard.c", ["-DCTOR_CRASH"]),
    "sscard_ctor_hang": ("sscard.c", ["-DCTOR_HANG"]),
    "sscard_chatty": ("sscard.c", ["-DCHATTY"]),
    "frontend": ("frontend.c", []),
    "frontend_initargs": ("frontend.c", ["-DINIT_WITH_ARGS"]),
    "nationec": ("nationec.c", []),
    "unrelated": ("unrelated.c", []),
}


def compiler() -> str | None:
    return shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")


@dataclass(frozen=True)
class Builds:
    folder: Path

    def __getitem__(self, name: str) -> Path:
        return self.folder / f"lib{name}.so"

    def copy(self, name: str, into: Path) -> Path:
        """A private copy of a stand-in in its own folder (its control file lives beside it)."""
        into.mkdir(parents=True, exist_ok=True)
        target = into / f"lib{name}.so"
        shutil.copy2(self[name], target)
        return target


def build_all(folder: Path) -> Builds:
    cc = compiler()
    if cc is None:
        pytest.skip("no C compiler (cc/gcc/clang) to build the stand-in vendor libraries; scripts/test installs gcc")
    for name, (source, flags) in VARIANTS.items():
        subprocess.run([cc, "-shared", "-fPIC", "-O1", *flags, "-o", str(folder / f"lib{name}.so"),
                        str(HERE / source)], check=True, capture_output=True)
    return Builds(folder)


@pytest.fixture(scope="session")
def standins(tmp_path_factory) -> Builds:
    return build_all(tmp_path_factory.mktemp("standins"))


class CardLibrary:
    """A private copy of the card reader stand-in; `insert(...)`, `remove()`, `hang()`, `crash()` steer its next read."""

    def __init__(self, path: Path):
        self.path = path
        self.folder = path.parent
        self._lines = {"read": "-2 " + "无卡".encode("gbk").hex() + "00", "pin": "0 00"}
        self._write()

    def _write(self) -> None:
        (self.folder / "standin.ctl").write_text("\n".join(f"{k} {v}" for k, v in self._lines.items()) + "\n")

    def set(self, key: str, value: str) -> None:
        self._lines[key] = value
        self._write()

    def answer(self, ret: int, data: bytes, terminate: bool = True, key: str = "read") -> None:
        payload = data + (NUL if terminate else b"")
        self.set(key, f"{ret} {payload.hex()}")

    def insert(self, person: dict, name: str | None = None) -> None:
        """A card of a demo person (adapters/sandbox/data/demo.json), answered the standard way in GBK."""
        self.answer(0, card_info(person, name).encode("gbk"))

    def remove(self) -> None:
        self.answer(-2, "无卡".encode("gbk"))

    def hang(self, key: str = "read") -> None:
        self.set(key, "hang")

    def crash(self, key: str = "read") -> None:
        self.set(key, "crash")

    def calls(self) -> list[str]:
        log = self.folder / "standin.log"
        return log.read_text().splitlines() if log.exists() else []


def card_info(person: dict, name: str | None = None) -> str:
    """The 11 `|`-terminated fields of iReadCardBas for a demo person."""
    fields = [person["card_sn"][:6], person["certno"], person["card_no"], person["card_sn"],
              name or person["psn_name"], "0081E2B4C3D2E1F0", "3.00", "20200115", "20300115", "360100000001",
              "T0001"]
    return "|".join(fields) + "|"


@pytest.fixture
def card_library(standins, tmp_path) -> CardLibrary:
    return CardLibrary(standins.copy("sscard", tmp_path / "reader"))


class FrontEnd:
    """A private copy of the gateway front-end stand-in, pointed at an insurer URL (the sandbox); `set(mode=…)`
    changes what its next BUSINESS_HANDLE does (see frontend.c)."""

    def __init__(self, path: Path, insurer_url: str, path_on_insurer: str = "/fsi/api/rsfComIfsService/callService"):
        host_port = insurer_url.split("://", 1)[1].rstrip("/")
        host, _, port = host_port.partition(":")
        self.path = path
        self.folder = path.parent
        self.settings = {"host": host, "port": port or "80", "path": path_on_insurer, "init": "ok",
                         "mode": "forward"}
        self._write()

    def _write(self) -> None:
        (self.folder / "frontend.ini").write_text("".join(f"{k} {v}\n" for k, v in self.settings.items()))

    def set(self, **settings: str) -> None:
        self.settings.update(settings)
        self.settings = {k: v for k, v in self.settings.items() if v is not None}
        self._write()

    def calls(self) -> list[str]:
        log = self.folder / "standin.log"
        return log.read_text().splitlines() if log.exists() else []


@pytest.fixture
def front_end(standins, tmp_path, sandbox) -> FrontEnd:
    return FrontEnd(standins.copy("frontend", tmp_path / "ybjk"), sandbox.url)
