"""Layered configuration (docs/configuration.md): defaults → chain → store → RXLANE_SECTION__KEY; mistakes name file and
key."""
import json
import os

import pytest
from click.testing import CliRunner

from plugin.errors import InvalidInput
from plugin.cli import main
from plugin.config import load_settings, permission_warnings


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


def test_no_configuration_gives_the_embedded_default():
    s = load_settings(None, environ={})
    assert s.embedded_sandbox and s.server.port == 8600 and s.sandbox.port == 8700 and s.store.region == "jiangxi"


def test_later_layers_win_and_environment_variables_win_last(tmp_path):
    chain = write(tmp_path / "chain.toml", '[nhsa]\nurl = "https://gw.example.cn"\ntimeout_s = 20\n')
    store = write(tmp_path / "store.toml", '[store]\nfixmedins_code = "P50010300002"\nregion = "chongqing"\n'
                                           '[nhsa]\ntimeout_s = 25\n')
    s = load_settings(store, chain_file=chain, environ={"RXLANE_NHSA__TIMEOUT_S": "30",
                                                       "RXLANE_STORE__REGION": "jilin"})
    assert s.nhsa.url == "https://gw.example.cn" and s.nhsa.timeout_s == 30 and s.store.region == "jilin"
    assert s.store.fixmedins_code == "P50010300002" and not s.embedded_sandbox


def test_an_all_digit_code_in_the_environment_stays_text_while_numbers_stay_numbers():
    # a division code (admdvs) and a store code are text that may be all digits; a port is a number
    s = load_settings(None, environ={"RXLANE_STORE__ADMDVS": "360102", "RXLANE_STORE__FIXMEDINS_CODE": "360102000001",
                                     "RXLANE_SERVER__PORT": "8099", "RXLANE_NHSA__SM4_KEY": "0" * 31 + "7"})
    assert s.store.admdvs == "360102" and s.store.fixmedins_code == "360102000001"
    assert s.server.port == 8099 and s.nhsa.sm4_key == "0" * 31 + "7"
    # the quoted TOML form (docs/configuration.md) still reads as the text inside the quotes
    quoted = load_settings(None, environ={"RXLANE_STORE__ADMDVS": '"360102"', "RXLANE_NHSA__SECRET": '"s3cr"',
                                          "RXLANE_NHSA__URL": '"https://gw.example.cn"'})
    assert (quoted.store.admdvs, quoted.nhsa.secret, quoted.nhsa.url) == ("360102", "s3cr", "https://gw.example.cn")


@pytest.mark.parametrize("text, where", [
    ('[store]\nregoin = "x"\n', "store.regoin"),
    ('[stor]\nregion = "x"\n', "stor"),
    ('[server]\nport = 99999\n', "server.port"),
    ('[nhsa]\nurl = "ftp://x"\n', "nhsa.url"),
    ('[store\n', "store.toml"),
])
def test_a_mistake_names_the_file_and_the_key(tmp_path, text, where):
    store = write(tmp_path / "store.toml", text)
    with pytest.raises(InvalidInput) as err:
        load_settings(store, environ={})
    assert where in err.value.message


def test_secrets_come_from_a_file_and_are_masked_in_config_check(tmp_path):
    secret = write(tmp_path / "secret", "s3cr3t-value\n")
    os.chmod(secret, 0o644)
    store = write(tmp_path / "store.toml", f'[nhsa]\nsecret_file = "{secret}"\npaasid = "PAAS01"\n')
    s = load_settings(store, environ={})
    assert s.nhsa.secret == "s3cr3t-value"
    assert "s3cr3t" not in json.dumps(s.masked()) and "s3cr3t" not in repr(s)
    warned = permission_warnings(s, store)
    assert any(str(secret) in w for w in warned) and any(str(store) in w for w in warned)   # store sets paasid
    os.chmod(secret, 0o600)
    os.chmod(store, 0o600)
    assert permission_warnings(s, store) == []


def test_config_check_prints_the_effective_configuration_masked(tmp_path):
    store = write(tmp_path / "store.toml", '[nhsa]\nurl = "https://gw.example.cn"\n')
    done = CliRunner().invoke(main, ["config", "check", "--config", str(store)],
                              env={"RXLANE_NHSA__SECRET": "topsecret"})
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert out["effective"]["nhsa"]["secret"] == "***" and "topsecret" not in done.output
    assert out["policy"]["source"] == "赣医保发〔2022〕2号"
    bad = CliRunner().invoke(main, ["config", "check", "--config", str(write(tmp_path / "b.toml", "[x]\n"))])
    assert bad.exit_code == 2 and "Traceback" not in bad.output
