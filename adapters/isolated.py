"""Vendor libraries — the card reader's, the gateway front end's, the e-voucher SDK — run in a worker process of
their own and are called with a timeout; a crash or a hang becomes an exception here and the next call starts a new
worker. rxlane itself never loads vendor code.

Where this lives: ``adapters/`` holds everything that talks to an outside system, and a vendor's native library is
one. The gateway adapter (``adapters/nhsa/dll.py``), the e-voucher SDK (``adapters/evoucher/sdk.py``) and the card
reader driver (``hardware/sscard_lib.py``, which imports it the way it imports pyserial) share this one module;
neither ``adapters`` nor ``hardware`` imports ``plugin``.

Why a plain subprocess speaking JSON lines (``adapters/isolated_worker.py``) rather than ``multiprocessing``:

- the worker may run under another interpreter (``python=``): a 32-bit vendor DLL needs a 32-bit Python;
- its working directory and library search path are the library's own folder, where vendors keep their ``.ini``
  files and the other DLLs they depend on;
- it imports nothing of rxlane (no settings, no secrets; ``RXLANE_*`` variables are not passed on), and whatever
  the vendor prints cannot corrupt the protocol (the worker moves fd 1 aside before loading the library);
- a pipe read with a timeout works the same on Windows and Linux with one reader thread per worker.

Shapes: ``call(symbol, 3, b"in", Out(2048), restype="int", timeout_s=10)`` → ``CallResult(ret=0, outs=(OutBuffer(
data=b"...", terminated=True, overrun=False),))``. ``int`` arguments are C ``int``, ``bytes`` are ``char*`` (a
NUL-terminated copy), ``Out(n)`` is a writable ``char[n]`` guarded against overruns. ``restype="str"`` reads a
``char*`` return value as bytes.

Errors (``LibraryError``, each with an English ``message`` and a Chinese ``message_zh``; callers add what the library
is for): ``LibraryUnavailable`` (``reason``: missing, wrong_platform, wrong_architecture, not_a_library,
dependency_missing, not_permitted, unloadable, symbol_missing, worker — nothing was called), ``LibraryCrashed`` and
``LibraryHung`` (a call may have had effects; the worker is gone and restarts on the next call).
"""
from __future__ import annotations

import base64
import json
import os
import queue
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Literal

from adapters.errors import BilingualError

WORKER = Path(__file__).resolve().with_name("isolated_worker.py")
_CREATE_NO_WINDOW = 0x08000000
_EXIT_WAIT_S = 5.0


class LibraryError(BilingualError):
    message = "The vendor library failed."
    message_zh = "厂家动态库调用失败。"


_UNAVAILABLE_ZH = {
    "missing": "找不到动态库文件，请检查配置的路径",
    "wrong_architecture": ("动态库与本机的架构或位数不符（例如64位程序加载32位库），请向厂家索取与本机匹配的版本，"
                           "或为其配置对应位数的 Python"),
    "wrong_platform": ("该动态库是其他操作系统的版本（例如在 Linux 上配置了 Windows 的 .dll），"
                       "请向厂家索取本机系统的版本"),
    "not_a_library": "该文件不是有效的动态库",
    "dependency_missing": "动态库依赖的其他库文件缺失，请把厂家提供的全部文件放在同一目录",
    "not_permitted": "没有加载该动态库的权限（文件权限不足，或被系统安全策略拦截，例如麒麟安全中心的应用执行控制）",
    "unloadable": "动态库无法加载",
    "symbol_missing": "动态库中缺少所需的接口函数，请确认厂家库的版本",
    "worker": "无法启动调用动态库的隔离进程",
}


class LibraryUnavailable(LibraryError):
    """The library could not be loaded or lacks a function; nothing in it was called."""

    def __init__(self, reason: str, message: str):
        self.reason = reason
        super().__init__(message, _UNAVAILABLE_ZH.get(reason, _UNAVAILABLE_ZH["unloadable"]))


class LibraryCrashed(LibraryError):
    """The worker died during a call (a segfault, an access violation, an abort)."""
    message_zh = "厂家动态库异常退出，已自动重启调用进程"

    def __init__(self, symbol: str, exitcode: int | None, detail: str = ""):
        self.symbol, self.exitcode = symbol, exitcode
        super().__init__(f"the library crashed in {symbol} "
                         f"({describe_exit(exitcode)}{'; ' + detail if detail else ''})")


class LibraryHung(LibraryError):
    """No answer within the timeout; the worker was killed."""
    message_zh = "厂家动态库无响应，已终止并重启调用进程"

    def __init__(self, symbol: str, timeout_s: float):
        self.symbol, self.timeout_s = symbol, timeout_s
        super().__init__(f"the library did not return from {symbol} within {timeout_s:g} s")


def default_python() -> str:
    """rxlane's own interpreter. On Windows a venv's python.exe is only a redirector that starts the base
    interpreter as a child; the worker needs nothing but the standard library, so it runs the base one directly."""
    if os.name == "nt":
        return getattr(sys, "_base_executable", "") or sys.executable
    return sys.executable


def describe_exit(code: int | None) -> str:
    if code is None:
        return "still running"
    if code < 0:
        import signal
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    if code >= 0xC0000000:                      # Windows NTSTATUS, e.g. 0xC0000005 access violation
        return f"exception 0x{code:08X}"
    return f"exit status {code}"


# ELF e_machine / PE Machine of the CPUs counters run on (x86 and 信创: Phytium/Kunpeng arm64, Loongson, Sunway)
_ELF_MACHINES = {"x86_64": 62, "amd64": 62, "i386": 3, "i686": 3, "x86": 3, "aarch64": 183, "arm64": 183,
                 "loongarch64": 258, "mips64": 8, "riscv64": 243, "sw_64": 0x9916}
_PE_MACHINES = {"x86_64": 0x8664, "amd64": 0x8664, "i386": 0x14C, "i686": 0x14C, "x86": 0x14C, "arm64": 0xAA64,
                "aarch64": 0xAA64}


def architecture_mismatch(path: str, host_machine: str | None = None, host_bits: int | None = None) -> str | None:
    """Why this file cannot be loaded by this machine's (default) interpreter, from its header: "wrong_platform"
    (a Windows DLL on Linux or the reverse), "wrong_architecture" (another CPU or word size), or None. The loaders
    say it badly: glibc reports an arm64 .so on x86_64 as "No such file or directory"."""
    import platform
    import struct
    machine = (host_machine or platform.machine()).lower()
    bits = host_bits or struct.calcsize("P") * 8
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return None
    if head[:4] == b"\x7fELF" and len(head) >= 20:
        if os.name == "nt":
            return "wrong_platform"
        order: Literal["little", "big"] = "little" if head[5] == 1 else "big"
        elf_bits = {1: 32, 2: 64}.get(head[4])
        elf_machine = int.from_bytes(head[18:20], order)
        expected = _ELF_MACHINES.get(machine)
        if elf_bits != bits or (expected is not None and elf_machine != expected):
            return "wrong_architecture"
        return None
    if head[:2] == b"MZ" and len(head) >= 64:
        if os.name != "nt":
            return "wrong_platform"
        offset = int.from_bytes(head[60:64], "little")
        if head[offset:offset + 4] == b"PE\0\0":
            pe_machine = int.from_bytes(head[offset + 4:offset + 6], "little")
            expected = _PE_MACHINES.get(machine) if bits == 64 else 0x14C
            if expected is not None and pe_machine != expected:
                return "wrong_architecture"
    return None


def classify_load_error(detail: str) -> str:
    """The loader's own words (dlopen / LoadLibrary) → a reason the pharmacist's message is chosen by."""
    text = detail.lower()
    if "wrong elf class" in text or "winerror 193" in text or "elf machine" in text or "wrong architecture" in text:
        return "wrong_architecture"
    if "invalid elf header" in text or "file too short" in text or "not a valid win32" in text:
        return "not_a_library"
    if "permission denied" in text or "operation not permitted" in text or "winerror 5]" in text:
        return "not_permitted"
    if "winerror 126" in text or "cannot open shared object file" in text:
        return "dependency_missing"
    return "unloadable"


@dataclass(frozen=True)
class Out:
    """A writable ``char[size]`` for the library to answer in."""
    size: int


@dataclass(frozen=True)
class OutBuffer:
    data: bytes          # up to the first NUL (or all `size` bytes when there is none)
    terminated: bool     # a NUL ended the text within the buffer
    overrun: bool        # the library wrote past the end of the buffer


@dataclass(frozen=True)
class CallResult:
    ret: int | bytes | None
    outs: tuple[OutBuffer, ...]


class _Worker:
    def __init__(self, proc: subprocess.Popen) -> None:
        assert proc.stdin is not None and proc.stdout is not None   # started with both pipes
        self.proc = proc
        self.stdin: IO[bytes] = proc.stdin
        self.answers: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._pump, args=(proc.stdout,), daemon=True, name="rxlane-isolated-reader").start()

    def _pump(self, stream: IO[bytes]) -> None:
        try:
            for line in stream:
                self.answers.put(line)
        except (OSError, ValueError):
            pass
        self.answers.put(None)

    def kill(self) -> int | None:
        try:
            self.proc.kill()
        except OSError:
            pass
        return self.wait()

    def wait(self) -> int | None:
        try:
            return self.proc.wait(_EXIT_WAIT_S)
        except subprocess.TimeoutExpired:
            return None
        finally:
            for stream in (self.proc.stdin, self.proc.stdout):
                try:
                    if stream:
                        stream.close()
                except OSError:
                    pass


class IsolatedLibrary:
    """One vendor library in one worker process; calls are serialised (vendor libraries are rarely re-entrant)."""

    def __init__(self, path: str, *, symbols: tuple[str, ...] = (), convention: Literal["stdcall", "cdecl"] = "stdcall",
                 python: str = "", load_timeout_s: float = 15.0) -> None:
        self.path = str(path)
        self.symbols = tuple(symbols)
        self.convention = convention
        self.python = python or default_python()
        self.load_timeout_s = load_timeout_s
        self.starts = 0
        self._worker: _Worker | None = None
        self._lock = threading.Lock()
        self._ids = 0

    def __repr__(self) -> str:
        return f"IsolatedLibrary({self.path!r}, alive={self.alive})"

    @property
    def alive(self) -> bool:
        worker = self._worker
        return worker is not None and worker.proc.poll() is None

    @property
    def restarts(self) -> int:
        return max(0, self.starts - 1)

    @property
    def pid(self) -> int | None:
        worker = self._worker
        return worker.proc.pid if worker is not None else None

    def start(self) -> None:
        """Start the worker and load the library with its symbols, unless that is done; `LibraryError` if not."""
        with self._lock:
            self._ensure()

    def call(self, symbol: str, *args: int | bytes | Out, restype: Literal["int", "str"] = "int",
             timeout_s: float) -> CallResult:
        with self._lock:
            worker = self._ensure()
            encoded = [_encode_arg(a) for a in args]
            answer = self._ask(worker, {"op": "call", "symbol": symbol, "restype": restype, "args": encoded},
                               timeout_s, symbol)
            if not answer.get("ok"):
                if answer.get("error") == "symbol":
                    raise LibraryUnavailable("symbol_missing", f"the library has no function {symbol}")
                code = worker.wait()
                self._worker = None
                raise LibraryCrashed(symbol, code, str(answer.get("detail", ""))[:200])
            try:
                result = _decode_result(answer, restype)
            except (KeyError, TypeError, ValueError):
                self._discard()
                raise LibraryCrashed(symbol, None, "unreadable answer from the worker") from None
            if any(o.overrun for o in result.outs):
                self._discard()    # the library wrote over memory it did not own: start afresh next time
            return result

    def close(self) -> None:
        """Stop the worker now, even in the middle of a hung call (that call then fails as crashed)."""
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()

    # -- internals ----------------------------------------------------------------------------------------------
    def _ensure(self) -> _Worker:
        if self._worker is not None and self._worker.proc.poll() is None:
            return self._worker
        self._discard()
        if not os.path.isfile(self.path):
            raise LibraryUnavailable("missing", f"no library file at {self.path}")
        worker = self._spawn()
        answer = self._ask(worker, {"op": "load", "path": self.path, "convention": self.convention,
                                    "symbols": list(self.symbols)}, self.load_timeout_s, "(load)")
        if not answer.get("ok"):
            self._discard()
            detail = str(answer.get("detail", ""))[:300]
            if answer.get("error") == "symbol":
                raise LibraryUnavailable("symbol_missing", f"the library has no function {detail}")
            reason = (architecture_mismatch(self.path) if self.python == default_python() else None) or \
                classify_load_error(detail)
            raise LibraryUnavailable(reason, f"cannot load {self.path}: {detail}")
        return worker

    def _spawn(self) -> _Worker:
        folder = os.path.dirname(os.path.abspath(self.path))
        env = {k: v for k, v in os.environ.items() if not k.upper().startswith("RXLANE_")}
        search = "PATH" if os.name == "nt" else "LD_LIBRARY_PATH"
        env[search] = folder + (os.pathsep + env[search] if env.get(search) else "")
        try:
            proc = subprocess.Popen([self.python, "-I", str(WORKER), str(os.getpid())], stdin=subprocess.PIPE,
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=folder, env=env,
                                    creationflags=_CREATE_NO_WINDOW if os.name == "nt" else 0)
        except OSError as exc:
            raise LibraryUnavailable("worker", f"cannot start {self.python}: {exc.strerror or exc}") from None
        self.starts += 1
        self._worker = _Worker(proc)
        return self._worker

    def _ask(self, worker: _Worker, body: dict, timeout_s: float, symbol: str) -> dict:
        self._ids += 1
        body["id"] = self._ids
        try:
            worker.stdin.write(json.dumps(body).encode("ascii") + b"\n")
            worker.stdin.flush()
        except (OSError, ValueError):
            pass             # the worker is gone; its answer queue ends with None below
        while True:
            try:
                line = worker.answers.get(timeout=timeout_s)
            except queue.Empty:
                self._discard()
                raise LibraryHung(symbol, timeout_s) from None
            if line is None:
                code = worker.wait()
                self._worker = None
                raise LibraryCrashed(symbol, code)
            try:
                answer = json.loads(line)
            except ValueError:
                continue
            if isinstance(answer, dict) and answer.get("id") == body["id"]:
                return answer

    def _discard(self) -> None:
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.kill()


def _encode_arg(arg: int | bytes | Out) -> dict:
    if isinstance(arg, Out):
        if arg.size < 1:
            raise ValueError("an output buffer needs at least one byte")
        return {"o": arg.size}
    if isinstance(arg, bool) or not isinstance(arg, (int, bytes)):
        raise TypeError(f"unsupported argument type {type(arg).__name__}")
    if isinstance(arg, int):
        return {"i": arg}
    if b"\0" in arg:
        raise ValueError("a char* argument cannot hold a NUL byte")
    return {"s": base64.b64encode(arg).decode("ascii")}


def _decode_result(answer: dict, restype: str) -> CallResult:
    ret = answer["ret"]
    if restype == "str" and ret is not None:
        ret = base64.b64decode(ret)
    elif restype == "int" and not isinstance(ret, int):
        raise TypeError("return value is not an int")
    outs = tuple(OutBuffer(data=base64.b64decode(o["data"]), terminated=bool(o["terminated"]),
                           overrun=bool(o["overrun"])) for o in answer["outs"])
    return CallResult(ret=ret, outs=outs)
