"""Fixtures of the fault suite (the rig itself is tests/fault/rig.py, one module instance shared with the tests):
processes started once per module and killed in teardown, and the summary line at the end of the run."""
from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fault.rig import Launcher, Sandbox, write_summary


def pytest_terminal_summary(terminalreporter, exitstatus, config):  # noqa: ARG001 — pytest hook signature
    write_summary(terminalreporter)


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def launcher(tmp_path_factory) -> Iterator[Launcher]:
    launch = Launcher(tmp_path_factory.mktemp("fault"))
    yield launch
    launch.close()


@pytest.fixture(scope="module")
def shared_sandbox(launcher) -> Sandbox:
    """One insurer for a module's scenarios (each scenario has its own pharmacy code, so books don't mix)."""
    return launcher.sandbox()
