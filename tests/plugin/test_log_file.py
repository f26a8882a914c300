"""`[server] log_file`: stderr only by default; "auto" puts a rotating file in the platform's log folder
(platformdirs), 0600 in a 0700 folder, with ID numbers scrubbed like every other log line."""
import logging
import os
import stat

import pytest

from plugin.config import load_settings
from plugin.logs import configure_logging, log_file_path

ID_NUMBER = "360121196805122010"


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:], root.level = handlers, level


def test_logs_go_to_stderr_only_unless_a_log_file_is_asked_for():
    assert load_settings(None, environ={}).server.log_file == ""
    assert log_file_path("") is None


def test_auto_puts_the_log_in_the_platforms_log_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    assert log_file_path("auto") == tmp_path / "state" / "rxlane" / "log" / "rxlane.log"


def test_the_log_file_is_private_and_scrubbed(tmp_path, restore_logging):
    path = tmp_path / "logs" / "rxlane.log"
    configure_logging(log_file=log_file_path(str(path)))
    logging.getLogger("rxlane.test").warning("patient %s read at the counter", ID_NUMBER)
    for handler in logging.getLogger().handlers:
        handler.flush()
    text = path.read_text("utf-8")
    assert "read at the counter" in text and ID_NUMBER not in text
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and stat.S_IMODE(path.parent.stat().st_mode) == 0o700


def test_a_log_file_in_a_folder_that_exists_leaves_the_folder_as_it_is(tmp_path, restore_logging):
    # /tmp or /var/log: other users and services live there; only the file is rxlane's to make private
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    configure_logging(log_file=log_file_path(str(shared / "rxlane.log")))
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "rxlane.log").stat().st_mode) == 0o600


def test_a_data_dir_that_is_a_shared_sticky_folder_is_not_locked(tmp_path):
    from plugin.store.files import private_dir
    shared = tmp_path / "tmp-like"
    shared.mkdir()
    os.chmod(shared, 0o1777)
    private_dir(shared)
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    own = tmp_path / "own"
    own.mkdir(mode=0o755)
    private_dir(own)
    assert stat.S_IMODE(own.stat().st_mode) == 0o700
