"""A vendor library runs in a worker process of its own (adapters/isolated.py): calls with a timeout, a crash or a
hang is an exception and a fresh worker, bad files are refused with a reason — against compiled stand-in libraries."""
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from adapters.isolated import (CallResult, IsolatedLibrary, LibraryCrashed, LibraryHung, LibraryUnavailable, Out,
                               OutBuffer, classify_load_error)

READ = ("iReadCardBas",)


def gone(pid: int, within_s: float = 5.0) -> bool:
    end = time.monotonic() + within_s
    while time.monotonic() < end:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        try:   # a zombie of ours still answers kill(0): reaped means gone
            if Path(f"/proc/{pid}/stat").read_text().split()[2] == "Z":
                return True
        except OSError:
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
def lib(card_library):
    library = IsolatedLibrary(str(card_library.path), symbols=READ + ("iVerifyPIN",))
    yield library
    library.close()


def test_a_call_passes_the_int_and_returns_the_return_code_and_the_answer_buffer(lib, card_library):
    card_library.answer(0, "张伟|".encode("gbk"))
    result = lib.call("iReadCardBas", 3, Out(2048), timeout_s=5)
    assert result == CallResult(ret=0, outs=(OutBuffer(data="张伟|".encode("gbk"), terminated=True, overrun=False),))
    assert card_library.calls() == ["iReadCardBas 3"]


def test_the_worker_stays_up_between_calls_and_runs_in_the_librarys_folder_without_rxlane_secrets(
        lib, card_library, monkeypatch):
    monkeypatch.setenv("RXLANE_NHSA__SECRET", "do-not-leak-me")
    lib.call("iReadCardBas", 1, Out(64), timeout_s=5)
    pid = lib.pid
    lib.call("iReadCardBas", 2, Out(64), timeout_s=5)
    assert lib.pid == pid and lib.restarts == 0
    assert Path(f"/proc/{pid}/cwd").resolve() == card_library.folder.resolve()
    assert b"do-not-leak-me" not in Path(f"/proc/{pid}/environ").read_bytes()


def test_a_segfault_is_library_crashed_and_the_next_call_gets_a_new_worker(lib, card_library):
    lib.call("iReadCardBas", 3, Out(64), timeout_s=5)
    first = lib.pid
    card_library.crash()
    with pytest.raises(LibraryCrashed) as caught:
        lib.call("iReadCardBas", 3, Out(64), timeout_s=5)
    assert caught.value.exitcode == -signal.SIGSEGV and "SIGSEGV" in caught.value.message
    assert caught.value.message_zh
    card_library.answer(0, b"ok")
    assert lib.call("iReadCardBas", 3, Out(64), timeout_s=5).outs[0].data == b"ok"
    assert lib.pid != first and lib.restarts == 1


def test_a_hang_is_library_hung_after_the_timeout_and_the_hung_worker_is_killed(lib, card_library):
    lib.start()
    hung_pid = lib.pid
    card_library.hang()
    with pytest.raises(LibraryHung) as caught:
        lib.call("iReadCardBas", 3, Out(64), timeout_s=0.5)
    assert caught.value.symbol == "iReadCardBas"
    assert gone(hung_pid)
    card_library.answer(0, b"back")
    assert lib.call("iReadCardBas", 3, Out(64), timeout_s=5).outs[0].data == b"back"


def test_an_answer_longer_than_the_buffer_is_flagged_as_overrun_and_the_worker_is_replaced(lib, card_library):
    card_library.answer(0, b"X" * 100)
    result = lib.call("iReadCardBas", 3, Out(64), timeout_s=5)
    assert result.outs[0].overrun and not result.outs[0].terminated
    assert not lib.alive        # memory the library did not own was written: the next call starts afresh


def test_an_answer_filling_the_buffer_without_a_nul_is_not_terminated(lib, card_library):
    card_library.answer(0, b"Y" * 64, terminate=False)
    out = lib.call("iReadCardBas", 3, Out(64), timeout_s=5).outs[0]
    assert (out.data, out.terminated, out.overrun) == (b"Y" * 64, False, False)


def test_what_a_library_prints_on_stdout_does_not_disturb_the_protocol(standins, tmp_path):
    path = standins.copy("sscard_chatty", tmp_path / "chatty")
    (path.parent / "standin.ctl").write_text("read 0 " + b"fine\0".hex() + "\n")
    lib = IsolatedLibrary(str(path), symbols=READ)
    try:
        assert lib.call("iReadCardBas", 3, Out(64), timeout_s=5).outs[0].data == b"fine"
    finally:
        lib.close()


def test_a_missing_file_is_unavailable_without_starting_a_worker(tmp_path):
    lib = IsolatedLibrary(str(tmp_path / "SSCardDriver.so"), symbols=READ)
    with pytest.raises(LibraryUnavailable) as caught:
        lib.call("iReadCardBas", 3, Out(64), timeout_s=5)
    assert caught.value.reason == "missing" and lib.starts == 0
    assert "找不到" in caught.value.message_zh


def test_a_file_that_is_not_a_library_is_unavailable_not_a_library(tmp_path):
    fake = tmp_path / "SSCardDriver.so"
    fake.write_text("readme: copy SSCardDriver.dll here\n")
    with pytest.raises(LibraryUnavailable) as caught:
        IsolatedLibrary(str(fake), symbols=READ).start()
    assert caught.value.reason == "not_a_library"


def test_a_32_bit_library_is_unavailable_for_its_architecture(standins, tmp_path):
    path = standins.copy("sscard", tmp_path / "x86")
    data = bytearray(path.read_bytes())
    data[4] = 1              # EI_CLASS = ELFCLASS32: what a 32-bit build of the vendor library carries
    path.write_bytes(bytes(data))
    with pytest.raises(LibraryUnavailable) as caught:
        IsolatedLibrary(str(path), symbols=READ).start()
    assert caught.value.reason == "wrong_architecture"
    assert "位数" in caught.value.message_zh


def test_a_library_for_another_cpu_is_unavailable_for_its_architecture(standins, tmp_path):
    path = standins.copy("sscard", tmp_path / "arm64")
    data = bytearray(path.read_bytes())
    data[18:20] = (183).to_bytes(2, "little")     # e_machine = EM_AARCH64: a Phytium/Kunpeng build on an x86 PC
    path.write_bytes(bytes(data))
    with pytest.raises(LibraryUnavailable) as caught:
        IsolatedLibrary(str(path), symbols=READ).start()
    assert caught.value.reason == "wrong_architecture"


def test_a_windows_dll_configured_on_linux_is_unavailable_for_its_platform(tmp_path):
    dll = tmp_path / "SSCardDriver.dll"
    header = bytearray(256)
    header[0:2] = b"MZ"
    header[60:64] = (128).to_bytes(4, "little")
    header[128:134] = b"PE\0\0" + (0x14C).to_bytes(2, "little")
    dll.write_bytes(bytes(header))
    with pytest.raises(LibraryUnavailable) as caught:
        IsolatedLibrary(str(dll), symbols=READ).start()
    assert caught.value.reason == "wrong_platform" and "Windows" in caught.value.message_zh


def test_a_library_without_the_function_is_unavailable_symbol_missing(standins, tmp_path):
    with pytest.raises(LibraryUnavailable) as caught:
        IsolatedLibrary(str(standins.copy("unrelated", tmp_path / "u")), symbols=READ).start()
    assert caught.value.reason == "symbol_missing" and "iReadCardBas" in caught.value.message


@pytest.mark.parametrize("detail, reason", [
    ("/opt/ybjk/libSi.so: cannot open shared object file: Permission denied", "not_permitted"),
    ("[WinError 5] Access is denied", "not_permitted"),
    ("libssl.so.1.0.0: cannot open shared object file: No such file or directory", "dependency_missing"),
    ("[WinError 126] The specified module could not be found", "dependency_missing"),
    ("[WinError 193] %1 is not a valid Win32 application", "wrong_architecture"),
    ("x.so: invalid ELF header", "not_a_library"),
    ("something else entirely", "unloadable"),
])
def test_the_loaders_own_words_choose_the_reason(detail, reason):
    assert classify_load_error(detail) == reason


def test_a_library_that_crashes_or_hangs_while_loading_fails_the_start(standins, tmp_path):
    with pytest.raises(LibraryCrashed):
        IsolatedLibrary(str(standins.copy("sscard_ctor_crash", tmp_path / "c")), symbols=READ).start()
    hanging = IsolatedLibrary(str(standins.copy("sscard_ctor_hang", tmp_path / "h")), symbols=READ,
                              load_timeout_s=0.5)
    with pytest.raises(LibraryHung):
        hanging.start()
    assert not hanging.alive


def test_a_worker_interpreter_that_does_not_exist_is_unavailable(card_library, tmp_path):
    lib = IsolatedLibrary(str(card_library.path), symbols=READ, python=str(tmp_path / "python32.exe"))
    with pytest.raises(LibraryUnavailable) as caught:
        lib.start()
    assert caught.value.reason == "worker"


def test_calling_a_function_the_library_lacks_is_symbol_missing_and_the_worker_stays(lib, card_library):
    lib.start()
    pid = lib.pid
    with pytest.raises(LibraryUnavailable) as caught:
        lib.call("iReadCardBas_HSM_Step1", 3, Out(64), timeout_s=5)
    assert caught.value.reason == "symbol_missing" and lib.pid == pid and lib.alive


def test_a_nul_in_a_string_argument_is_refused_before_anything_is_sent(lib):
    with pytest.raises(ValueError):
        lib.call("iReadCardBas", b"a\0b", Out(8), timeout_s=5)


def test_a_hung_worker_exits_when_rxlane_itself_is_killed(card_library, tmp_path):
    card_library.hang()
    script = textwrap.dedent(f"""
        import sys, threading
        from adapters.isolated import IsolatedLibrary, Out
        lib = IsolatedLibrary({str(card_library.path)!r}, symbols=("iReadCardBas",))
        lib.start()
        print(lib.pid, flush=True)
        lib.call("iReadCardBas", 3, Out(64), timeout_s=600)
    """)
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True,
                              cwd=Path(__file__).resolve().parents[2])
    try:
        worker_pid = int(parent.stdout.readline())
        deadline = time.monotonic() + 10
        while "iReadCardBas 3" not in card_library.calls() and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
    assert gone(worker_pid, within_s=10)
