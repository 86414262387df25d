"""What the OpenAPI fuzz test found, per database, for the closing summary (``conftest.py``)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass
class Finding:
    """One distinct problem: a server error's cause, or a schema violation."""

    kind: str  # "5xx" or "schema"
    operation: str
    cause: str
    owner: str | None  # the open defect it belongs to (tolerated for now), None when it must be fixed
    reproduction: str
    count: int = 1


@dataclass
class FuzzStats:
    operations: set[str] = field(default_factory=set)
    cases: int = 0
    unauthenticated: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    server_errors: int = 0
    violations: int = 0
    findings: dict[tuple[str, str, str], Finding] = field(default_factory=dict)

    def add(self, finding: Finding) -> None:
        key = (finding.kind, finding.operation, finding.cause)
        known = self.findings.get(key)
        if known is None:
            self.findings[key] = finding
        else:
            known.count += 1
        if finding.kind == "5xx":
            self.server_errors += 1
        else:
            self.violations += 1


#: Per database backend.
STATS: dict[str, FuzzStats] = {}


def stats_for(backend: str) -> FuzzStats:
    return STATS.setdefault(backend, FuzzStats())


def summary_lines() -> list[str]:
    lines = []
    for backend, stats in STATS.items():
        statuses = ", ".join(f"{code}: {n}" for code, n in sorted(stats.statuses.items()))
        lines.append(
            f"{backend}: {len(stats.operations)} operations, {stats.cases} cases "
            f"({stats.unauthenticated} unauthenticated), {stats.server_errors} server errors, "
            f"{stats.violations} schema violations [{statuses}]"
        )
        for finding in sorted(stats.findings.values(), key=lambda f: (f.kind, f.owner or "", f.operation)):
            owner = f"open, {finding.owner}" if finding.owner else "MUST FIX"
            lines.append(
                f"  {finding.kind} x{finding.count} ({owner}) {finding.operation}: {finding.cause}\n"
                f"      {finding.reproduction}"
            )
    return lines
