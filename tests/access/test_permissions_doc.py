"""The roles table of docs/dashboard.md is the one of billow.access.permissions."""

from __future__ import annotations

from pathlib import Path

from billow.access.permissions import AREAS, BUILTIN_ROLES

DOC = Path(__file__).resolve().parents[2] / "docs" / "dashboard.md"


def test_the_documented_roles_are_the_built_in_roles() -> None:
    text = DOC.read_text()
    start = text.index("| Area (actions) | admin | manager | finance | viewer |")
    table = text[start:].split("\n\n")[0]
    rows = [line for line in table.splitlines() if line.startswith("| `")]
    documented = {}
    for row in rows:
        cells = [c.strip() for c in row.strip("|").split("|")]
        area = cells[0].split("`")[1]
        documented[area] = cells[1:]
    assert list(documented) == list(AREAS)
    for area, actions in AREAS.items():
        for role, cell in zip(BUILTIN_ROLES, documented[area], strict=True):
            granted = [a for a in actions if f"{area}:{a}" in BUILTIN_ROLES[role]]
            expected = "all" if granted == list(actions) else (", ".join(granted) or "—")
            assert cell == expected, (area, role)
