"""The OpenAPI fuzz test's figures, printed at the end of the run (visible in ``pytest -q`` output)."""

from __future__ import annotations

from typing import Any

from tests.fuzz.report import STATS, summary_lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATS:
        return
    terminalreporter.section("OpenAPI fuzz")
    for line in summary_lines():
        terminalreporter.write_line(line)
