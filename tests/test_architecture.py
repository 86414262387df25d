"""The layers of ``src/billow`` (``docs/architecture.md``), read from the code's own imports.

Every ``import`` of every module is counted, at module level and inside functions: a lazy import is still
a dependency. A top-level package (``billow.billing``) or module (``billow.app``) is one node. The test
fails on:

- an import that goes up the layers of :data:`LAYERS` (and so on any cycle between packages);
- an import of a private name (``_name``, or a module ``_mod``) of another package;
- a file over :data:`MAX_LINES` lines, except the expression parser and the generated migrations.

There is no allowlist: issue 10 removed the last exceptions. Fix the code, or move the package in
:data:`LAYERS` (and ``docs/architecture.md``) when the design really changes.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "billow"

#: From the bottom up; a node imports only nodes of its own or a lower layer. Nodes of one layer do not
#: import each other unless the layer lists them in that order within a tuple (left below right).
LAYERS: list[tuple[str, ...]] = [
    ("errors",),
    ("kit", "config"),
    ("pricing",),
    ("providers",),
    ("db",),
    ("models",),
    ("worker", "migrate"),
    ("auth",),
    ("taxes", "webhook_endpoints", "webhooks"),
    ("billable_metrics",),
    ("plans", "add_ons", "coupons"),
    ("customers",),
    ("applied_coupons",),
    ("subscriptions",),
    ("subscription_charges",),
    ("events",),
    ("metering",),
    ("fees",),
    ("invoices",),
    ("credit_notes",),
    ("wallets",),
    ("alerts",),
    ("billing", "usage"),
    ("documents",),
    ("mail",),
    ("payment_methods",),
    ("payments",),
    ("dunning",),
    ("analytics",),
    ("integrations",),
    ("organizations",),
    ("access", "audit"),
    ("web",),
    ("dashboard", "portal"),
    ("transport", "param_guard", "api_docs", "operations"),
    ("app",),
    ("cli",),
]

MAX_LINES = 600
#: One parser and evaluator (a grammar does not split well).
EXEMPT_FROM_SIZE = {"kit/expression.py"}


@dataclass(frozen=True)
class Import:
    importer: str  # module, dotted
    target: str  # module, dotted
    name: str | None  # the name imported from ``target`` (``from target import name``)
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in SRC.rglob("*.py") if "migrations" not in p.relative_to(SRC).parts}


def imports() -> list[Import]:
    modules = _modules()
    found: list[Import] = []
    for module, path in modules.items():
        package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                found += [Import(module, alias.name, None, node.lineno) for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    if node.level > 1:
                        base = base[: -(node.level - 1)]
                    target = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    target = node.module or ""
                for alias in node.names:
                    submodule = f"{target}.{alias.name}"
                    if submodule in modules:  # ``from billow.billing import run``: the module itself
                        found.append(Import(module, submodule, None, node.lineno))
                    else:
                        found.append(Import(module, target, alias.name, node.lineno))
    return [i for i in found if i.target == "billow" or i.target.startswith("billow.")]


def node_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "billow"


def _rank() -> dict[str, tuple[int, int]]:
    return {
        node: (layer, position) for layer, nodes in enumerate(LAYERS) for position, node in enumerate(nodes)
    }


def _crossing() -> list[Import]:
    return [
        i for i in imports() if node_of(i.importer) != node_of(i.target) and node_of(i.target) != "billow"
    ]


def test_every_node_has_a_layer() -> None:
    rank = _rank()
    nodes = {node_of(m) for m in _modules()} - {"billow"}
    assert sorted(nodes - rank.keys()) == [], "add the new package to LAYERS (and docs/architecture.md)"
    assert sorted(rank.keys() - nodes) == [], "LAYERS names a package that no longer exists"


def test_imports_go_down_the_layers() -> None:
    rank = _rank()
    upward = {
        (node_of(i.importer), i.target): f"{i.importer}:{i.line}"
        for i in _crossing()
        if rank[node_of(i.target)] > rank[node_of(i.importer)]
    }
    assert upward == {}, "an import goes up the layers (see LAYERS)"


def test_no_cycle_between_packages() -> None:
    """Implied by the layers; checked on its own so that a cycle is named."""
    edges: dict[str, set[str]] = defaultdict(set)
    for i in _crossing():
        edges[node_of(i.importer)].add(node_of(i.target))
    cycles = _strongly_connected(edges)
    assert cycles == []


def test_no_private_name_crosses_a_package() -> None:
    private = set()
    for i in _crossing():
        segments = i.target.split(".")[1:]
        if (i.name and i.name.startswith("_") and not i.name.startswith("__")) or any(
            s.startswith("_") and not s.startswith("__") for s in segments
        ):
            private.add((i.importer, i.target, i.name or ""))
    assert sorted(private) == [], "import a public name (export one from the package)"


def test_files_stay_small() -> None:
    sizes = {str(path.relative_to(SRC)): len(path.read_text().splitlines()) for path in _modules().values()}
    large = {
        name: lines for name, lines in sizes.items() if lines > MAX_LINES and name not in EXEMPT_FROM_SIZE
    }
    assert large == {}, f"split the file (at most {MAX_LINES} lines)"


def _strongly_connected(edges: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm: the components of more than one node."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for successor in sorted(edges.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in on_stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return components


def test_the_checks_see_a_cycle() -> None:
    """The analysis itself: a cycle and a private import are found (a check that cannot fail is none)."""
    assert _strongly_connected({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert _strongly_connected({"a": {"b"}, "b": set()}) == []
    found = imports()
    assert any(i.importer == "billow.app" and i.target.startswith("billow.billing") for i in found)
    # Function-level imports count (billow.app imports the routers inside _api_routers).
    assert any(i.importer == "billow.app" and i.target == "billow.taxes.endpoints" for i in found)


def test_the_environment_is_read_through_settings() -> None:
    """``billow.config.Settings`` is the one reader of ``BILLOW_*`` variables: no ``os.environ`` /
    ``os.getenv`` elsewhere in ``src/billow`` (a switch that tests flip is a Settings field)."""
    readers = set()
    for path in _modules().values():
        name = str(path.relative_to(SRC))
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Attribute)
                and node.attr in ("environ", "getenv")
                and isinstance(node.value, ast.Name)
                and node.value.id == "os"
                and name != "config.py"
            ):
                readers.add(name)
    assert sorted(readers) == [], "read it through billow.config.Settings"
