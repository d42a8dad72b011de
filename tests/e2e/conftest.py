"""The stack `make dev` runs, started on free ports for the end-to-end tests.

A stack that cannot start fails the tests, locally as in CI: proving that it starts and that
the emulator loads every callable is what these tests are for.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from devtools.processes import StartError, group_alive
from devtools.stack import Stack, StackConfig

PROJECT = "demo-visn-e2e"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    config = StackConfig.on_free_ports(
        project=PROJECT, run_dir=tmp_path_factory.mktemp("stack-run")
    )
    stack = Stack(config)
    try:
        stack.start()
    except StartError as exc:
        pytest.fail(f"the local stack could not start: {exc}", pytrace=False)
    groups = stack.process_groups()
    yield stack
    held = stack.stop()
    assert held == [], f"ports still held after stop: {held}"
    assert [g for g in groups if group_alive(g)] == [], "a process group outlived the stack"
