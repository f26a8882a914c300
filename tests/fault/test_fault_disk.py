"""A full disk while a 2102 is at the insurer (docs/reliability.md, "A full disk"): the insurer settles, the ledger
cannot record it. The POS must hear an honest SETTLEMENT_IN_DOUBT (not a 500), health must count the sale in doubt
at once, and once the disk has room again the sale is resolved (2601) so both books agree.

The disk is filled two ways: a small tmpfs holding the data directory, filled up while the answer is on its way
(needs root to mount; skipped otherwise), and ``ulimit -f`` set on the running process with prlimit (any Linux):
every write beyond the first byte of a file then fails as on a dying disk.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from collections.abc import Callable, Iterator

import pytest

from tests.fault.rig import TALLY, Counter, audit_books, new_pharmacy


def _mount_tmpfs(where: Path, size: str) -> bool:
    where.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(where)],
                          capture_output=True)
    return done.returncode == 0


@pytest.fixture
def small_disk(tmp_path) -> Iterator[Path]:
    where = tmp_path / "disk"
    if not _mount_tmpfs(where, "16m"):
        pytest.skip("mounting a small tmpfs needs root (mount -t tmpfs); the prlimit variant covers the rest")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


def _fill(disk: Path) -> Callable[[], None]:
    """Fill the filesystem to the last byte; returns the undo."""
    filler = disk / "filler"
    fd = os.open(filler, os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        for size in (1 << 20, 1 << 12, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
    return lambda: filler.unlink()


def _limit_file_size(pid: int) -> Callable[[], None]:
    """ulimit -f on a running process: writes past the first byte of any file fail (EFBIG; Python ignores
    SIGXFSZ)."""
    if not shutil.which("prlimit"):
        pytest.skip("prlimit (util-linux) is not installed")
    subprocess.run(["prlimit", "--pid", str(pid), "--fsize=1:unlimited"], check=True)
    return lambda: subprocess.run(["prlimit", "--pid", str(pid), "--fsize=unlimited:unlimited"], check=True)


def _settle_with_a_full_disk(launcher, sandbox, data: Path, pharmacy: str, fill) -> None:
    rx = launcher.rxlane(data, sandbox, pharmacy, timeout_s=10)
    pos = Counter(rx, sandbox)
    sale_id = pos.ring_up()
    sandbox.fault("2102", "slow", 1, 2500)       # the insurer takes its time: the disk fills meanwhile
    settle, answers = pos.settle_in_background(sale_id)
    undo = fill(rx)
    settle.join(30)
    try:
        assert answers, "the settle request never came back"
        r = answers[0]
        assert r.status_code == 409 and r.json()["error"]["code"] == "SETTLEMENT_IN_DOUBT", r.text
        assert r.json()["error"]["details"]["sale_id"] == sale_id and r.json()["error"]["message_zh"]
        health = rx.http.get("/v1/health").json()
        assert sale_id in health["in_doubt_ids"] and "in_doubt_sales" in health["problems"], health
        assert "ledger_write_failed" in health["problems"]
    finally:
        undo()
    rx.settle_down()                              # room again: adopted as in doubt and reversed
    sale = rx.http.get(f"/v1/sales/{sale_id}").json()
    assert sale["state"] == "reversed", sale["state"]
    pos.finish("settled")                         # the pharmacist settles again; it goes through
    rx.settle_down()
    audit = audit_books(rx, sandbox)
    TALLY.record(f"disk:{fill.__name__}", audit)
    assert audit.problems == [] and audit.insurer_states == ["reversed", "settled"]


def test_a_full_tmpfs_while_the_2102_is_at_the_insurer_gives_an_honest_in_doubt_that_resolves(
        launcher, shared_sandbox, small_disk):
    def tmpfs_full(_rx):
        return _fill(small_disk)
    _settle_with_a_full_disk(launcher, shared_sandbox, small_disk / "data", new_pharmacy(), tmpfs_full)


def test_a_file_size_limit_while_the_2102_is_at_the_insurer_gives_an_honest_in_doubt_that_resolves(
        launcher, shared_sandbox, tmp_path):
    def fsize_limit(rx):
        return _limit_file_size(rx.proc.p.pid)
    _settle_with_a_full_disk(launcher, shared_sandbox, tmp_path / "data", new_pharmacy(), fsize_limit)
