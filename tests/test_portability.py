"""rxlane runs on Windows counter PCs and on 信创 Linux (Kylin, UOS): every module of plugin, adapters and hardware
imports without the POSIX-only standard modules, so only the documented Linux-only parts need them
(deploy/windows/README.md, docs/vendor-libraries.md).

A fresh interpreter wraps `__import__` so that an `import fcntl` (termios, tty, pty, grp, pwd, resource) made BY one
of rxlane's modules fails as it would on Windows; third-party libraries keep their own platform branches (pyserial
imports termios on Linux and its win32 backend on Windows). Then it imports every module it can find.
"""
import json
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
POSIX_ONLY = ("fcntl", "termios", "tty", "pty", "grp", "pwd", "resource")
PACKAGES = ("plugin", "adapters", "hardware")
#: module → why it may need a POSIX-only module when imported. Keep this empty: import such modules lazily, where used.
LINUX_ONLY: dict[str, str] = {}

SCRIPT = textwrap.dedent("""
    import builtins, importlib, json, pkgutil, sys, traceback
    BLOCKED, OURS = set(sys.argv[1].split(",")), tuple(p + "." for p in sys.argv[2].split(",")) + tuple(
        sys.argv[2].split(","))
    real_import = builtins.__import__

    def windows_like_import(name, globals=None, locals=None, fromlist=(), level=0):
        importer = (globals or {}).get("__name__", "")
        if level == 0 and name.split(".")[0] in BLOCKED and importer.startswith(OURS):
            raise ModuleNotFoundError(f"No module named {name!r} (POSIX-only, imported by {importer})", name=name)
        return real_import(name, globals, locals, fromlist, level)

    builtins.__import__ = windows_like_import
    failures, imported = {}, []
    for package in sys.argv[2].split(","):
        importlib.import_module(package)
        for info in pkgutil.walk_packages(sys.modules[package].__path__, package + ".",
                                          onerror=lambda name: failures.setdefault(name, "package failed")):
            try:
                importlib.import_module(info.name)
                imported.append(info.name)
            except Exception as exc:
                failures[info.name] = f"{type(exc).__name__}: {exc}"
    try:
        exec("import fcntl", {"__name__": "hardware.probe"})
        control = "not blocked"
    except ModuleNotFoundError:
        control = "blocked"
    print(json.dumps({"failures": failures, "imported": imported, "control": control}))
""")


def test_every_module_imports_without_posix_only_modules():
    run = subprocess.run([sys.executable, "-c", SCRIPT, ",".join(POSIX_ONLY), ",".join(PACKAGES)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["control"] == "blocked"           # the blocker does bite an rxlane module
    unexpected = {m: why for m, why in report["failures"].items() if m not in LINUX_ONLY}
    assert unexpected == {}
    expected = {str(p.relative_to(ROOT).with_suffix("")).replace("/", ".")
                for package in PACKAGES for p in (ROOT / package).rglob("*.py") if p.name != "__init__.py"}
    assert expected <= set(report["imported"]) | set(LINUX_ONLY)


def test_the_vendor_library_worker_runs_on_the_standard_library_alone():
    """It may run under another interpreter (a 32-bit Python for a 32-bit DLL): no rxlane or third-party import."""
    source = (ROOT / "adapters" / "isolated_worker.py").read_text("utf-8")
    imports = {line.split()[1].split(".")[0] for line in source.splitlines()
               if line.startswith(("import ", "from "))}
    assert imports <= {"base64", "ctypes", "json", "os", "sys", "threading", "time"}
