"""The layers of DESIGN.md, checked from the imports: a stage never imports a later one.

Every module of the package must be placed in LAYERS (a new module fails this
test until someone decides where it belongs). Wiring modules (CLI, web, jobs,
the use-case layer) may import anything; nothing below them may import them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "newsletter"
WIRING = 99

LAYERS = {
    "newsletter": 0,
    "newsletter.__main__": WIRING,
    "newsletter.errors": 0,
    "newsletter.models": 0,
    "newsletter.links": 0,
    "newsletter.placeholders": 0,
    "newsletter.resources": 0,
    "newsletter.config": 1,
    "newsletter.tokens": 1,
    "newsletter.store": 2,
    "newsletter.app": 3,
    "newsletter.sources": 3,
    "newsletter.gather": 4,
    "newsletter.sanitize": 4,
    "newsletter.feeds": 5,
    "newsletter.websub": 5,
    "newsletter.feedstats": 5,
    "newsletter.compose": 5,
    "newsletter.subscribers": 5,
    "newsletter.render": 6,
    "newsletter.preflight": 6,
    "newsletter.delivery": 7,
    "newsletter.devsmtp": 7,
    "newsletter.maildir": 7,
    "newsletter.bounces": 7,
    "newsletter.unsubscribes": 7,
    "newsletter.inbound": 7,
    "newsletter.issues": WIRING,
    "newsletter.pipeline": WIRING,
    "newsletter.demo": WIRING,
    "newsletter.jobs": WIRING,
    "newsletter.cli": WIRING,
    "newsletter.web": WIRING,
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def layer_of(name: str) -> int | None:
    """The layer of the longest prefix of `name` in LAYERS (subpackages share a layer)."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        prefix = ".".join(parts[:end])
        if prefix in LAYERS and (end > 1 or name == "newsletter"):
            return LAYERS[prefix]
    return None


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


MODULES = sorted(
    p for p in PACKAGE.rglob("*.py") if "migrations" not in p.parts and "_data" not in p.parts
)


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_module_imports_no_later_stage(path: Path) -> None:
    name = module_name(path)
    own = layer_of(name)
    assert own is not None, f"{name} is in no layer: add it to LAYERS in this test"
    for target in imported(path):
        if not target.startswith("newsletter."):
            continue
        theirs = layer_of(target)
        if theirs is None:
            continue
        assert theirs <= own, f"{name} (layer {own}) imports {target} (layer {theirs})"


@pytest.mark.parametrize("path", MODULES, ids=module_name)
def test_only_the_store_speaks_sql_and_only_config_reads_the_environment(path: Path) -> None:
    name = module_name(path)
    names = imported(path)
    # The composition root holds the engine (type only); every query lives in store/.
    if not name.startswith(("newsletter.store", "newsletter.app")):
        assert not any(n.split(".")[0] in {"sqlalchemy", "alembic"} for n in names), name
    if name != "newsletter.config":
        source = path.read_text(encoding="utf-8")
        assert "os.environ" not in source and "getenv" not in source, name
