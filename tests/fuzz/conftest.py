"""The OpenAPI fuzz test's figures, printed at the end of the run (visible in ``pytest -q`` output)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.fuzz.report import STATS, summary_lines


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not STATS:
        return
    terminalreporter.section("OpenAPI fuzz")
    for line in summary_lines():
        terminalreporter.write_line(line)


def pytest_runtest_logfinish(nodeid: str) -> None:
    """``BILLOW_FUZZ_REPORT=path``: the figures so far, rewritten after each test (long runs)."""
    path = os.environ.get("BILLOW_FUZZ_REPORT")
    if path and STATS and "tests/fuzz/" in nodeid:
        Path(path).write_text("\n".join([nodeid, *summary_lines()]) + "\n")
