"""Device models are data (config/devices/<model>.toml) under the store's [[devices]] entry (docs/configuration.md,
docs/hardware.md)."""
import ast
from pathlib import Path

import pytest

from hardware.device import MODELS_DIR, DeviceConfig

HARDWARE = Path(__file__).resolve().parents[2] / "hardware"


def test_model_defaults_fill_in_what_the_store_entry_leaves_out():
    cfg = DeviceConfig.from_mapping({"name": "scanner-1", "kind": "scanner", "url": "/dev/ttyACM0",
                                     "model": "newland-fr40"})
    assert cfg.framing == "stx_etx" and cfg.baudrate == 9600


def test_the_store_entry_wins_over_the_model():
    cfg = DeviceConfig.from_mapping({"name": "s", "kind": "scanner", "url": "/dev/ttyS0", "model": "generic-rs232",
                                     "baudrate": 19200, "framing": "lf"})
    assert (cfg.baudrate, cfg.framing) == (19200, "lf")


def test_printer_model_carries_the_code_page():
    cfg = DeviceConfig.from_mapping({"name": "p", "kind": "printer", "url": "tcp://10.0.0.9:9100",
                                     "model": "epson-tm-t82"})
    assert cfg.code_page == "gb18030" and cfg.columns == 48


@pytest.mark.parametrize("model", sorted(p.stem for p in MODELS_DIR.glob("*.toml")))
def test_every_shipped_model_file_loads(model):
    kind = "printer" if "tm-t82" in model else "card_reader" if "card" in model else "scanner"
    cfg = DeviceConfig.from_mapping({"name": "d", "kind": kind, "url": "loop://", "model": model})
    assert cfg.model == model


@pytest.mark.parametrize("entry, key", [
    ({"name": "s", "kind": "scanner", "url": "loop://", "baud": 9600}, "baud"),
    ({"name": "s", "kind": "scanner", "url": "loop://", "baudrate": "fast"}, "baudrate"),
    ({"name": "s", "kind": "scanner", "url": "loop://", "framing": "etx"}, "framing"),
    ({"name": "s", "kind": "keyboard", "url": "loop://"}, "kind"),
    ({"name": "s", "kind": "scanner"}, "url"),
    ({"kind": "scanner", "url": "loop://"}, "name"),
    ({"name": "s", "kind": "scanner", "url": "loop://", "model": "no-such-model"}, "model"),
    ({"name": "s", "kind": "scanner", "url": "loop://", "encoding": "klingon"}, "encoding"),
    ({"name": "s", "kind": "scanner", "url": "loop://", "reprobe_s": 0}, "reprobe_s"),
])
def test_a_bad_entry_is_refused_naming_the_key(entry, key):
    with pytest.raises(ValueError, match=f"'{key}'"):
        DeviceConfig.from_mapping(entry)


def test_a_model_name_cannot_walk_out_of_the_models_folder(tmp_path):
    with pytest.raises(ValueError, match="'model'"):
        DeviceConfig.from_mapping({"name": "s", "kind": "scanner", "url": "loop://", "model": "../../etc/x"})


def test_a_models_dir_can_be_given(tmp_path):
    (tmp_path / "acme-7.toml").write_text('framing = "lf"\nbaudrate = 57600\ndescription = "x"\n')
    cfg = DeviceConfig.from_mapping({"name": "s", "kind": "scanner", "url": "loop://", "model": "acme-7"}, tmp_path)
    assert (cfg.framing, cfg.baudrate) == ("lf", 57600)


def test_hardware_never_imports_plugin():
    """docs/architecture.md: dependency direction plugin → hardware only; the service passes callbacks in."""
    for path in HARDWARE.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            assert not any(n == "plugin" or n.startswith("plugin.") for n in names), path.name


def test_every_driver_follows_the_device_protocol(tmp_path):
    from hardware.cardreader import card_reader_for
    from hardware.device import InputDevice, OutputDevice
    from hardware.printer import Printer
    from hardware.scanner import SerialScanner

    assert isinstance(SerialScanner(DeviceConfig("s", "scanner", "loop://")), InputDevice)
    assert isinstance(card_reader_for(DeviceConfig("c", "card_reader", "loop://")), InputDevice)
    assert isinstance(card_reader_for(DeviceConfig("c", "card_reader", "pcsc://")), InputDevice)
    assert isinstance(Printer(DeviceConfig("p", "printer", f"file://{tmp_path}/x")), OutputDevice)
