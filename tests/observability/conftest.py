"""Fixtures for the observability tests: scraping, a real webhook receiver, and `serve`
children whose log lines (stderr) are kept apart from what they print (stdout)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.live_server import PROJECT_ROOT, LiveServer, free_port
from tests.support.receiver import Receiver

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    """{(sample name, labels): value} of a Prometheus text answer; fails on bad text."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    """One sample's value; 0 when the series is not there yet."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def wait_until(condition: Callable[[], bool], timeout: float, what: str,
               logs: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}\n{logs()}")


class SplitLogServer(LiveServer):
    """`manage.py serve` with stderr (the log) in `stderr_path`, stdout in serve.log."""

    @property
    def stderr_path(self) -> Path:
        return self.data_dir / "stderr.log"

    def spawn(self) -> subprocess.Popen[bytes]:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        with self.log_path.open("ab") as out, self.stderr_path.open("ab") as err:
            self.process = subprocess.Popen(
                [sys.executable, "manage.py", "serve"], cwd=PROJECT_ROOT,
                env=self.environment(), stdin=subprocess.DEVNULL, stdout=out, stderr=err,
            )
        return self.process

    def output(self) -> str:
        err = self.stderr_path.read_text(errors="replace") if self.stderr_path.exists() else ""
        return f"{super().output()}\n--- stderr\n{err}"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as started:
        yield started


@pytest.fixture
def servers() -> Iterator[list[LiveServer]]:
    """Every server a test starts goes in here, and is killed at teardown whatever happened."""
    started: list[LiveServer] = []
    yield started
    for server in started:
        server.kill()


def scrape(client: httpx.Client, path: str = "/metrics") -> Samples:
    response = client.get(path)
    assert response.status_code == 200, response.text
    return parse(response.text)
