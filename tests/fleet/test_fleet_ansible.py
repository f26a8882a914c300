"""The Ansible role and playbook (deploy/ansible): syntax, a local run into a temporary prefix, the health gate."""
from __future__ import annotations

import grp
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from plugin.config import load_settings
from plugin.fleet.hosts import ansible_inventory, to_yaml
from plugin.fleet.inventory import read_inventory
from plugin.fleet.render import render_fleet
from plugin.fleet.simulate import SimFleet, SimStore, free_port, sample_store, write_inventory

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = REPO / "deploy" / "ansible" / "site.yml"
pytestmark = pytest.mark.skipif(shutil.which("ansible-playbook") is None,
                                reason="ansible-playbook not installed (pip install 'rxlane[deploy]')")


def playbook(inventory: Path, *args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    env = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_RETRY_FILES_ENABLED": "0",
           "ANSIBLE_LOCALHOST_WARNING": "0", "ANSIBLE_HOST_KEY_CHECKING": "0",
           "ANSIBLE_LOCAL_TEMP": str(inventory.parent / ".ansible-tmp"), "ANSIBLE_STDOUT_CALLBACK": "default"}
    return subprocess.run(["ansible-playbook", "-i", str(inventory), str(PLAYBOOK), *args], capture_output=True,
                          text=True, env=env, timeout=timeout)


def local_inventory(tmp_path: Path, stores: int, health_urls: list[str], chain: Path) -> tuple[Path, list]:
    """A real fleet inventory (render + `fleet inventory`), each host run locally into its own prefix."""
    csv_path = write_inventory(tmp_path / "inventory.csv", [sample_store(i, region="jiangxi") for i in range(stores)])
    render_fleet(csv_path, chain, tmp_path / "stores")
    rows = read_inventory(csv_path).rows
    data = ansible_inventory(rows, tmp_path / "stores", chain)
    user, group = pwd.getpwuid(os.getuid()).pw_name, grp.getgrgid(os.getgid()).gr_name
    group_vars = data["all"]["children"]["rxlane_stores"]["vars"]
    group_vars.update(ansible_connection="local", ansible_python_interpreter=sys.executable, rxlane_become="false",
                      rxlane_create_user="false", rxlane_user=user, rxlane_group=group, rxlane_python=sys.executable,
                      rxlane_install_package="false", rxlane_manage_service="false", rxlane_health_check="true",
                      rxlane_health_retries="2", rxlane_venv_extra_args="--without-pip",
                      rxlane_health_delay="0", rxlane_serial="1")
    hosts = {}
    for region in data["all"]["children"]["rxlane_stores"]["children"].values():
        hosts.update(region["hosts"])
    for n, (store_id, host_vars) in enumerate(sorted(hosts.items())):
        root = tmp_path / "hosts" / store_id
        host_vars.update(ansible_host="127.0.0.1", rxlane_prefix=str(root / "opt"),
                         rxlane_config_dir=str(root / "etc"), rxlane_data_dir=str(root / "var"),
                         rxlane_systemd_dir=str(root / "systemd"), rxlane_health_url=health_urls[n])
    path = tmp_path / "hosts.yml"
    path.write_text(to_yaml(data) + "\n", encoding="utf-8")
    return path, sorted(hosts)


def test_playbook_passes_syntax_check():
    result = subprocess.run(["ansible-playbook", "--syntax-check", "-i", "localhost,", str(PLAYBOOK)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_role_installs_config_data_dir_and_unit_into_a_prefix_and_passes_the_health_gate(tmp_path, chain_file):
    port = free_port()
    with SimFleet([SimStore("127.0.0.1", port, "ok")]):
        inventory, [store_id] = local_inventory(tmp_path, 1, [f"http://127.0.0.1:{port}/v1/health"], chain_file)
        result = playbook(inventory)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "Wait until /v1/health answers an accepted status" in result.stdout and "ok: [st-00000]" in result.stdout
    root = tmp_path / "hosts" / store_id
    store_toml = root / "etc" / "store.toml"
    assert stat.S_IMODE(store_toml.stat().st_mode) == 0o640
    assert stat.S_IMODE((root / "var").stat().st_mode) == 0o750
    assert (root / "opt" / "venv" / "bin" / "python").exists()
    settings = load_settings(store_toml, chain_file=root / "etc" / "chain.toml", environ={})
    assert settings.store.fixmedins_code == "P00000000000" and settings.nhsa.url == "https://gw.example.cn"
    unit = (root / "systemd" / "rxlane.service").read_text(encoding="utf-8")
    assert f"ExecStart={root}/opt/venv/bin/rxlane serve --config {root}/etc/store.toml --data-dir {root}/var" in unit
    assert f"ReadWritePaths={root}/var" in unit and f"EnvironmentFile=-{root}/etc/secrets.env" in unit
    assert f"User={pwd.getpwuid(os.getuid()).pw_name}" in unit and "/etc/rxlane" not in unit


def test_a_failed_health_check_stops_the_rollout_before_the_next_batch(tmp_path, chain_file):
    closed = f"http://127.0.0.1:{free_port()}/v1/health"          # nothing listens: the first store never gets ok
    port = free_port()
    with SimFleet([SimStore("127.0.0.1", port, "ok")]):
        inventory, hosts = local_inventory(tmp_path, 2, [closed, f"http://127.0.0.1:{port}/v1/health"], chain_file)
        result = playbook(inventory)
    assert result.returncode != 0
    assert (tmp_path / "hosts" / hosts[0] / "etc" / "store.toml").exists()      # first batch ran…
    assert not (tmp_path / "hosts" / hosts[1]).exists()                          # …and the second never started


def build_wheel(tmp_path: Path) -> Path:
    """A wheel of this checkout, built from a copy so the repository gets no build/ droppings."""
    src = tmp_path / "src"
    for name in ("plugin", "adapters", "hardware", "config"):
        shutil.copytree(REPO / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    for isolation in (["--no-build-isolation"], []):     # offline first; else let pip fetch setuptools + wheel
        built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w",
                                str(tmp_path / "wheels"), str(src)], capture_output=True, text=True, timeout=300)
        if built.returncode == 0:
            [wheel] = (tmp_path / "wheels").glob("rxlane-*.whl")
            return wheel
    pytest.skip(f"cannot build an rxlane wheel here: {built.stderr.strip().splitlines()[-1:]}")


@pytest.mark.slow
def test_role_pip_installs_the_rxlane_wheel_into_the_virtualenv(tmp_path, chain_file):
    wheel = build_wheel(tmp_path)
    port = free_port()
    with SimFleet([SimStore("127.0.0.1", port, "ok")]):
        inventory, [store_id] = local_inventory(tmp_path, 1, [f"http://127.0.0.1:{port}/v1/health"], chain_file)
        result = playbook(inventory, "-e", json.dumps({
            "rxlane_install_package": True, "rxlane_package": str(wheel), "rxlane_venv_site_packages": True,
            "rxlane_venv_extra_args": "",
            "rxlane_pip_extra_args": "--no-deps --no-index"}), timeout=600)
    assert result.returncode == 0, result.stdout[-3000:]
    venv = tmp_path / "hosts" / store_id / "opt" / "venv"
    check = subprocess.run([str(venv / "bin" / "rxlane"), "config", "check", "--config",
                            str(tmp_path / "hosts" / store_id / "etc" / "store.toml")],
                           capture_output=True, text=True, timeout=120,
                           env={**os.environ,
                                "RXLANE_CHAIN": str(tmp_path / "hosts" / store_id / "etc" / "chain.toml")})
    assert check.returncode == 0, check.stderr
    assert json.loads(check.stdout)["effective"]["store"]["fixmedins_code"] == "P00000000000"
