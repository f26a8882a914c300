"""`rxlane fleet render`: one validated store file per inventory row, or nothing at all."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from plugin.cli import main
from plugin.config import load_settings
from plugin.fleet.inventory import DeviceSyntaxError, format_devices, parse_devices, read_inventory
from plugin.fleet.render import FleetRefused, render_fleet

from plugin.fleet.simulate import sample_store as store_row, write_inventory


def test_ten_thousand_stores_render_and_every_file_validates_layered_over_the_chain(tmp_path, chain_file):
    inv = write_inventory(tmp_path / "inv.csv", [store_row(i) for i in range(10_000)])
    seen = []
    result = render_fleet(inv, chain_file, tmp_path / "stores", on_store=seen.append)
    assert result.stores == 10_000 and len(seen) == 10_000
    files = sorted((tmp_path / "stores").glob("*.toml"))
    assert len(files) == 10_000
    for i, path in enumerate(files):
        settings = load_settings(path, chain_file=chain_file, environ={})
        assert settings.store.fixmedins_code == f"P{i:011d}"
        assert settings.nhsa.url == "https://gw.example.cn"            # the chain layer applies
        assert len(settings.devices) == (2 if i % 3 else 0)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_invalid_rows_refuse_the_whole_run_with_every_line_number_and_write_nothing(tmp_path, chain_file):
    rows = [store_row(i) for i in range(20)]
    rows[3]["fixmedins_code"] = "P123"                                  # CSV line 5
    rows[7]["region"] = "atlantis"                                      # line 9
    rows[11]["store_id"] = rows[2]["store_id"]                          # line 13: duplicate store_id
    rows[12]["host"] = rows[0]["host"]                                  # line 14: duplicate host
    rows[13]["fixmedins_code"] = rows[1]["fixmedins_code"]              # line 15: duplicate code
    rows[15]["devices"] = "scanner-1:toaster:/dev/ttyS0"                # line 17: unknown kind
    rows[16]["store_id"] = "../etc"                                     # line 18: not a file name
    inv = write_inventory(tmp_path / "inv.csv", rows)
    with pytest.raises(FleetRefused) as caught:
        render_fleet(inv, chain_file, tmp_path / "stores")
    lines = sorted({p.line for p in caught.value.problems})
    assert lines == [5, 9, 13, 14, 15, 17, 18]
    reasons = " | ".join(str(p) for p in caught.value.problems)
    assert "duplicate store_id 'st-00002' (first on line 4)" in reasons
    assert "duplicate host" in reasons and "duplicate fixmedins_code" in reasons and "atlantis" in reasons
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.toml", "inv.csv"]


def test_cli_refusal_exits_2_lists_rows_and_leaves_no_directory(tmp_path, chain_file):
    rows = [store_row(i) for i in range(5)]
    rows[4]["fixmedins_name"] = ""
    inv = write_inventory(tmp_path / "inv.csv", rows)
    out = tmp_path / "stores"
    result = CliRunner().invoke(main, ["fleet", "render", str(inv), "--chain", str(chain_file), "--out", str(out)])
    assert result.exit_code == 2
    assert "line 6 (st-00004): fixmedins_name is empty" in result.output
    assert not out.exists()


def test_cli_render_writes_one_file_per_store_and_reports_json(tmp_path, chain_file):
    inv = write_inventory(tmp_path / "inv.csv", [store_row(i) for i in range(7)])
    out = tmp_path / "stores"
    result = CliRunner().invoke(main, ["fleet", "render", str(inv), "--chain", str(chain_file), "--out", str(out)])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["stores"] == 7 and len(list(out.glob("*.toml"))) == 7


def test_a_refused_rerender_leaves_the_previous_output_untouched(tmp_path, chain_file):
    out = tmp_path / "stores"
    render_fleet(write_inventory(tmp_path / "a.csv", [store_row(i) for i in range(3)]), chain_file, out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    bad = [store_row(i) for i in range(4)]
    bad[3]["region"] = "nowhere"
    with pytest.raises(FleetRefused):
        render_fleet(write_inventory(tmp_path / "b.csv", bad), chain_file, out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before


def test_a_successful_rerender_replaces_the_directory_so_removed_stores_disappear(tmp_path, chain_file):
    out = tmp_path / "stores"
    render_fleet(write_inventory(tmp_path / "a.csv", [store_row(i) for i in range(3)]), chain_file, out)
    render_fleet(write_inventory(tmp_path / "b.csv", [store_row(i) for i in range(2)]), chain_file, out)
    assert sorted(p.name for p in out.iterdir()) == ["st-00000.toml", "st-00001.toml"]


def test_a_chain_file_holding_a_secret_is_refused(tmp_path, chain_file):
    chain_file.write_text('[nhsa]\nurl = "https://gw.example.cn"\nsecret = "s3cr3t"\n', encoding="utf-8")
    with pytest.raises(FleetRefused) as caught:
        render_fleet(write_inventory(tmp_path / "inv.csv", [store_row(1)]), chain_file, tmp_path / "stores")
    assert "nhsa.secret" in str(caught.value.problems[0]) and not (tmp_path / "stores").exists()


def test_a_chain_file_with_an_unknown_key_is_refused_naming_the_key(tmp_path, chain_file):
    chain_file.write_text('[nhsa]\ntimeout = 20\n', encoding="utf-8")
    with pytest.raises(FleetRefused) as caught:
        render_fleet(write_inventory(tmp_path / "inv.csv", [store_row(1)]), chain_file, tmp_path / "stores")
    assert "nhsa.timeout" in str(caught.value.problems[0])


def test_a_row_the_reader_lets_through_is_still_refused_by_layered_schema_validation(tmp_path, chain_file):
    # the reader only checks what it knows; the store schema (plugin.config) is the backstop, per row
    rows = [store_row(1), store_row(2, region="Bad Region")]
    inv = read_inventory(write_inventory(tmp_path / "inv.csv", rows), regions={"jiangxi", "chongqing", "Bad Region"})
    assert inv.ok
    with pytest.raises(FleetRefused) as caught:
        render_fleet(inv, chain_file, tmp_path / "stores")
    assert [p.line for p in caught.value.problems] == [3]
    assert "store.region" in caught.value.problems[0].reason
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chain.toml", "inv.csv"]


def test_device_cell_keeps_colons_of_urls_and_reads_framing_and_model():
    devices = parse_devices("scanner-1:scanner@hw-1900:/dev/ttyACM0:cr; printer-1:printer:tcp://10.0.0.5:9100;"
                            "reader-1:card_reader:rfc2217://10.0.0.6:4000:stx_etx")
    assert devices == (
        {"name": "scanner-1", "kind": "scanner", "url": "/dev/ttyACM0", "framing": "cr", "model": "hw-1900"},
        {"name": "printer-1", "kind": "printer", "url": "tcp://10.0.0.5:9100"},
        {"name": "reader-1", "kind": "card_reader", "url": "rfc2217://10.0.0.6:4000", "framing": "stx_etx"})
    assert parse_devices(format_devices(devices)) == devices
    assert parse_devices("") == ()


@pytest.mark.parametrize("cell", ["scanner-1:scanner", "scanner 1:scanner:/dev/x", "a:scanner:/dev/x;a:printer:/x"])
def test_malformed_device_cells_are_errors(cell):
    with pytest.raises(DeviceSyntaxError):
        parse_devices(cell)


def test_inventory_without_a_required_column_is_refused_on_the_header_line(tmp_path):
    path = tmp_path / "inv.csv"
    path.write_text("store_id,fixmedins_code,region,host\nst-1,P00000000001,jiangxi,10.0.0.1\n", encoding="utf-8")
    inv = read_inventory(path)
    assert [(p.line, p.reason) for p in inv.problems] == [(1, "header lacks column(s): fixmedins_name")]


def test_a_chain_naming_a_secret_file_on_the_store_pcs_renders_without_that_file_at_hq(tmp_path, chain_file):
    chain_file.write_text('[nhsa]\nurl = "https://gw.example.cn"\nsecret_file = "/etc/rxlane/no-such-file"\n',
                          encoding="utf-8")
    result = render_fleet(write_inventory(tmp_path / "inv.csv", [store_row(1)]), chain_file, tmp_path / "stores")
    assert result.stores == 1 and (tmp_path / "stores" / "st-00001.toml").exists()


def test_ansible_inventory_groups_hosts_by_region_with_store_vars(tmp_path, chain_file):
    yaml = pytest.importorskip("yaml", reason="PyYAML comes with ansible-core ([deploy] extra)")
    inv = write_inventory(tmp_path / "inv.csv", [store_row(i) for i in range(8)] + [store_row(8, store_id="true")])
    result = CliRunner().invoke(main, ["fleet", "inventory", str(inv), "--chain", str(chain_file),
                                       "--config-dir", str(tmp_path / "stores")])
    assert result.exit_code == 0, result.output
    stores = yaml.safe_load(result.stdout)["all"]["children"]["rxlane_stores"]
    regions = stores["children"]
    assert sorted(regions) == ["chongqing", "jiangxi", "jilin", "shanxi"]
    assert sorted(regions["jiangxi"]["hosts"]) == ["st-00000", "st-00004", "true"]   # a YAML word stays a string
    host = regions["chongqing"]["hosts"]["st-00001"]
    assert host == {"ansible_host": "10.0.0.1", "store_id": "st-00001", "fixmedins_code": "P00000000001",
                    "rxlane_region": "chongqing", "rxlane_store_config_src": str(tmp_path / "stores" / "st-00001.toml")}
    assert stores["vars"]["rxlane_chain_config_src"] == str(chain_file)


def test_an_inventory_without_the_optional_devices_column_renders(tmp_path, chain_file):
    path = tmp_path / "inv.csv"
    path.write_text("store_id,fixmedins_code,fixmedins_name,region,host\n"
                    "st-1,P00000000001,示例大药房（一店）,jiangxi,10.0.0.1\n"
                    "st-2,P00000000002,示例大药房（二店）,chongqing,10.0.0.2\n", encoding="utf-8")
    result = render_fleet(path, chain_file, tmp_path / "stores")
    assert result.stores == 2
    settings = load_settings(tmp_path / "stores" / "st-2.toml", chain_file=chain_file, environ={})
    assert settings.store.region == "chongqing" and settings.devices == []


def test_a_host_with_a_port_sets_the_stores_port_its_ansible_port_and_where_status_polls(tmp_path, chain_file):
    from plugin.fleet.hosts import ansible_inventory
    rows = [store_row(0, host="10.36.1.21:8601"), store_row(1, host="pos-2.store.lan"),
            store_row(2, host="[fd00::21]:8602"), store_row(3, host="10.36.1.24:0"), store_row(4, host="pos 5:8601")]
    inv = read_inventory(write_inventory(tmp_path / "inv.csv", rows))
    assert [(p.line, p.reason.split(":")[0]) for p in inv.problems] == [(5, "host '10.36.1.24"), (6, "host 'pos 5")]
    good = write_inventory(tmp_path / "good.csv", rows[:3])
    render_fleet(good, chain_file, tmp_path / "stores")
    assert load_settings(tmp_path / "stores" / "st-00000.toml", chain_file=chain_file, environ={}).server.port == 8601
    second = load_settings(tmp_path / "stores" / "st-00001.toml", chain_file=chain_file, environ={})
    assert second.server.port == 8600 and second.hq.store_id == "st-00001"      # the id HQ enrols it under
    parsed = read_inventory(good).rows
    assert [(r.host, r.port) for r in parsed] == [("10.36.1.21", 8601), ("pos-2.store.lan", None), ("fd00::21", 8602)]
    hosts = {}
    groups = ansible_inventory(parsed, tmp_path / "stores")["all"]["children"]["rxlane_stores"]["children"]
    for region in groups.values():
        hosts.update(region["hosts"])
    assert hosts["st-00000"]["ansible_host"] == "10.36.1.21" and hosts["st-00000"]["rxlane_port"] == "8601"
    assert "rxlane_port" not in hosts["st-00001"]
