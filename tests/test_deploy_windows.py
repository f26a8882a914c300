"""deploy/windows/rxlane.xml (WinSW) stays true to rxlane: the command and options it runs exist, its environment
variables are real settings, it stops rxlane gently and restarts it, runs it unprivileged, and holds no secret."""
import shlex
import xml.etree.ElementTree as ET
from pathlib import Path

from click.testing import CliRunner

from plugin.cli import main
from plugin.config import SECRET_KEYS, load_settings

XML = Path(__file__).resolve().parents[1] / "deploy" / "windows" / "rxlane.xml"


def service() -> ET.Element:
    return ET.parse(XML).getroot()


def test_it_runs_rxlane_serve_with_options_rxlane_has():
    root = service()
    assert root.findtext("executable").endswith(r"\venv\Scripts\rxlane.exe")
    args = shlex.split(root.findtext("arguments"), posix=False)
    assert args[0] == "serve"
    options = [a for a in args if a.startswith("--")]
    assert {"--config", "--data-dir"} <= set(options)
    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    assert all(option in help_text for option in options)


def test_its_environment_variables_are_settings_rxlane_reads_and_none_is_a_secret():
    env = {e.get("name"): e.get("value") for e in service().findall("env")}
    secret_names = {f"RXLANE_{s.upper()}__{k.upper()}" for s, k in SECRET_KEYS}
    assert not secret_names & set(env)
    settings = load_settings(None, environ={k: v for k, v in env.items() if k != "RXLANE_CHAIN"})
    assert settings.server.log_file == env["RXLANE_SERVER__LOG_FILE"]


def test_it_stops_gently_restarts_on_failure_and_runs_unprivileged():
    root = service()
    assert root.findtext("stoptimeout").strip() == "30 sec"
    assert [f.get("action") for f in root.findall("onfailure")] == ["restart", "restart"]
    account = root.findtext("serviceaccount/username")
    assert account == r"NT AUTHORITY\LocalService"
