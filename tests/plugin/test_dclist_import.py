"""`rxlane catalog import` / `catalog show`: validate, then install all-or-nothing; the previous list stays."""
from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from plugin.cli import main
from plugin.dclist import InstalledList, load_installed_list
from plugin.dclist.document import sha256
from tests.plugin.dclist_files import drugs, province_csv, province_xlsx

REPO = Path(__file__).resolve().parents[2]


def run(*args: str, env: dict | None = None):
    return CliRunner().invoke(main, list(args), env=env or {})


def write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_import_installs_a_0600_normalised_copy_with_source_date_and_the_files_hash(tmp_path):
    data = province_xlsx(drugs())
    src = write(tmp_path / "江西双通道目录.xlsx", data)
    result = run("catalog", "import", str(src), "--source", "赣医保字〔2026〕1号", "--date", "2026-01-05",
                 "--data-dir", str(tmp_path / "data"))
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    installed = tmp_path / "data" / "dual-channel-list.json"
    assert answer["path"] == str(installed) and answer["rows"] == 3 and answer["read"]["header_line"] == 3
    assert stat.S_IMODE(installed.stat().st_mode) == 0o600
    assert answer["meta"]["sha256"] == sha256(data) and answer["version"] == sha256(installed.read_bytes())
    assert answer["meta"]["source"] == "赣医保字〔2026〕1号" and answer["meta"]["publication_date"] == "2026-01-05"
    assert answer["categories"] == {"A": 1, "B": 1, "C": 1}
    shown = run("catalog", "show", "--data-dir", str(tmp_path / "data"))
    assert shown.exit_code == 0 and json.loads(shown.stdout)["meta"] == answer["meta"]
    loaded = load_installed_list(tmp_path / "data")
    assert loaded.entry("XL01XEB234A001020204446").payment_standard == Decimal("3120.50")
    assert loaded.entry("NOT-A-DRUG") is None


def test_a_bad_file_exits_2_with_every_bad_line_and_the_previous_list_stays_byte_for_byte(tmp_path):
    data_dir = tmp_path / "data"
    assert run("catalog", "import", str(write(tmp_path / "good.csv", province_csv(drugs()))),
               "--data-dir", str(data_dir)).exit_code == 0
    before = (data_dir / "dual-channel-list.json").read_bytes()
    rows = drugs()
    rows[0]["医保支付标准"], rows[2]["类别"] = "100.001", "D"
    result = run("catalog", "import", str(write(tmp_path / "bad.csv", province_csv(rows))), "--data-dir", str(data_dir))
    assert result.exit_code == 2
    error = json.loads(result.stderr)["error"]
    assert error["code"] == "LIST_INVALID" and error["details"]["count"] == 2
    assert [(p["line"], p["column"]) for p in error["details"]["problems"]] == [(3, "医保支付标准"), (5, "类别")]
    assert (data_dir / "dual-channel-list.json").read_bytes() == before
    assert sorted(p.name for p in data_dir.iterdir()) == ["dual-channel-list.json"]       # no temp file left


def test_a_mojibake_file_exits_2_with_the_unreadable_code(tmp_path):
    mangled = province_csv(drugs(), encoding="gbk").decode("utf-8", errors="replace").encode("utf-8")
    result = run("catalog", "import", str(write(tmp_path / "l.csv", mangled)), "--data-dir", str(tmp_path / "d"))
    assert result.exit_code == 2 and json.loads(result.stderr)["error"]["code"] == "LIST_UNREADABLE"
    assert not (tmp_path / "d" / "dual-channel-list.json").exists()


def test_catalog_list_file_names_where_the_list_in_use_lives(tmp_path):
    target = tmp_path / "lists" / "jx.json"
    env = {"RXLANE_CATALOG__LIST_FILE": str(target)}
    src = write(tmp_path / "l.csv", province_csv(drugs(2)))
    assert run("catalog", "import", str(src), "--data-dir", str(tmp_path / "d"), env=env).exit_code == 0
    assert target.is_file() and not (tmp_path / "d" / "dual-channel-list.json").exists()
    shown = json.loads(run("catalog", "show", "--data-dir", str(tmp_path / "d"), env=env).stdout)
    assert shown["rows"] == 2 and shown["path"] == str(target)


def test_show_without_a_list_exits_1(tmp_path):
    result = run("catalog", "show", "--data-dir", str(tmp_path))
    assert result.exit_code == 1 and json.loads(result.stdout)["installed"] is False


def test_bad_options_are_coded_errors(tmp_path):
    src = write(tmp_path / "l.csv", province_csv(drugs()))
    result = run("catalog", "import", str(src), "--date", "2026-02-30", "--data-dir", str(tmp_path))
    assert result.exit_code == 2 and json.loads(result.stderr)["error"]["details"]["field"] == "date"
    result = run("catalog", "import", str(src), "--mapping", "atlantis", "--data-dir", str(tmp_path))
    assert result.exit_code == 2 and json.loads(result.stderr)["error"]["code"] == "LIST_UNREADABLE"


def test_a_running_service_sees_a_new_import_through_installed_list(tmp_path):
    watcher = InstalledList(tmp_path)
    assert watcher.current() is None
    run("catalog", "import", str(write(tmp_path / "a.csv", province_csv(drugs(1)))), "--data-dir", str(tmp_path))
    assert len(watcher.current()) == 1
    run("catalog", "import", str(write(tmp_path / "b.csv", province_csv(drugs(3)))), "--data-dir", str(tmp_path))
    assert len(watcher.current()) == 3


def test_the_real_command_imports_a_chongqing_xlsx_in_a_subprocess(tmp_path):
    rows = drugs(2)
    rows[0]["类别"], rows[1]["类别"] = "国谈门诊特病用药", "门诊保障用药"
    src = write(tmp_path / "cq.xlsx", province_xlsx(rows))
    proc = subprocess.run([sys.executable, "-m", "plugin.cli", "catalog", "import", str(src), "--region", "chongqing",
                           "--data-dir", str(tmp_path / "d")], capture_output=True, text=True, cwd=REPO,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["categories"] == {"BZ": 1, "TB": 1}
