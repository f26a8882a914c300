"""A throwaway PostgreSQL cluster from Debian's packages, for the HQ tests and the HQ benchmark.

`initdb` + `pg_ctl` into a temporary directory, listening on 127.0.0.1 on a free port, trust authentication, gone
after `stop()`. PostgreSQL refuses to run as root, so as root (CI) the cluster runs as the ``postgres`` user that the
Debian package creates, through ``runuser``. ``unavailable()`` says why a cluster cannot be started here (the tests
skip with that reason); `scripts/test` installs the ``postgresql`` package when it is missing.
"""
from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

TOOLS = ("initdb", "pg_ctl", "postgres")


def _major(path: str) -> int:
    name = Path(path).parent.name
    return int(name) if name.isdigit() else 0


def bindir() -> Path | None:
    candidates = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=10).stdout.strip()
            candidates.append(out)
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major, reverse=True)
    if shutil.which("initdb"):
        candidates.append(str(Path(shutil.which("initdb")).resolve().parent))
    for candidate in candidates:
        if candidate and all((Path(candidate) / tool).exists() for tool in TOOLS):
            return Path(candidate)
    return None


def unavailable() -> str | None:
    """None when a cluster can be started here, else the reason it cannot."""
    if bindir() is None:
        return "PostgreSQL server binaries (initdb, pg_ctl) not found: apt-get install postgresql"
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no 'postgres' user to run the cluster as"
        if shutil.which("runuser") is None:
            return "running as root without runuser to drop to the 'postgres' user"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgCluster:
    """``PgCluster().start()`` → ``.url`` (``postgresql://postgres@127.0.0.1:PORT/postgres``); ``.stop()``.

    ``durable=False`` (tests) turns fsync off; the benchmark keeps PostgreSQL's durable defaults."""

    def __init__(self, durable: bool = False):
        self.durable = durable
        self.root = Path(tempfile.mkdtemp(prefix="rxlane-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.bin = bindir()
        self.user = "postgres" if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def url_for(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=self.root)
        if result.returncode != 0:
            raise RuntimeError(f"{args[0]} failed: {result.stdout[-1500:]}{result.stderr[-1500:]}")
        return result

    def start(self) -> PgCluster:
        reason = unavailable()
        if reason:
            raise RuntimeError(reason)
        os.chmod(self.root, 0o755)                  # the postgres user must reach its data dir under /tmp
        self.data.mkdir(mode=0o700)
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chown(self.data, entry.pw_uid, entry.pw_gid)
            os.chown(self.root, entry.pw_uid, entry.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale")
        options = [f"-p {self.port}", f"-k {self.root}", "-c listen_addresses=127.0.0.1", "-c max_connections=200"]
        if not self.durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run("pg_ctl", "-D", str(self.data), "-o", " ".join(options), "-l", str(self.root / "server.log"),
                  "-w", "-t", "60", "start")
        return self

    def create_database(self, name: str) -> str:
        import psycopg
        with psycopg.connect(f"host=127.0.0.1 port={self.port} user=postgres dbname=postgres",
                             autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop", timeout=60)
        except (RuntimeError, OSError, subprocess.SubprocessError):
            pass
        shutil.rmtree(self.root, ignore_errors=True)
