"""Fixtures for the topology tests: a started `Topology` per test (its own throw-away database
and Redis, every child killed at teardown), the children's logs added to a failed test's report,
and a `report` that prints a figure and repeats it in the terminal summary."""

from __future__ import annotations

from collections.abc import Callable, Generator, Iterator
from pathlib import Path

import pytest

from tests.support.topology import Topology

REPORT_KEY = pytest.StashKey[list[str]]()
TOPOLOGY_KEY = pytest.StashKey[Topology]()


@pytest.fixture
def topology(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Topology]:
    started = Topology(tmp_path / "topology").start()
    request.node.stash[TOPOLOGY_KEY] = started
    try:
        yield started
    finally:
        started.stop()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, object, object]:
    report = yield
    topology = item.stash.get(TOPOLOGY_KEY, None)
    if (isinstance(report, pytest.TestReport) and report.when == "call" and report.failed
            and topology is not None):
        report.sections.append(("topology children", topology.logs()))
    return report


@pytest.fixture
def report(request: pytest.FixtureRequest) -> Callable[[str], None]:
    lines = request.config.stash.setdefault(REPORT_KEY, [])

    def record(line: str) -> None:
        print(line)
        lines.append(f"{request.node.name}: {line}")

    return record


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    lines = terminalreporter.config.stash.get(REPORT_KEY, [])
    if lines:
        terminalreporter.section("topology figures")
        for line in lines:
            terminalreporter.write_line(line)
