"""The ledger, its migrations and the lock depend on nothing but the standard library,
their own third-party libraries, ``syncer.errors`` and ``syncer.private_paths``."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ALLOWED = {
    "ledger": {"sqlalchemy", "alembic", "syncer.errors", "syncer.private_paths", "syncer.ledger"},
    "migrations": {"sqlalchemy", "alembic", "syncer.ledger.models"},
    "lock": {"syncer.errors", "syncer.private_paths"},
    "private_paths": set(),
}
SOURCES = [
    *(("ledger", p) for p in sorted((ROOT / "syncer" / "ledger").glob("*.py"))),
    *(("migrations", p) for p in sorted((ROOT / "migrations").rglob("*.py"))),
    ("lock", ROOT / "syncer" / "lock.py"),
    ("private_paths", ROOT / "syncer" / "private_paths.py"),
]


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def allowed(name: str, prefixes: set[str]) -> bool:
    top = name.split(".")[0]
    if top in sys.stdlib_module_names or top == "__future__":
        return True
    return any(name == p or name.startswith(p + ".") for p in prefixes)


@pytest.mark.parametrize(("kind", "path"), SOURCES, ids=lambda v: getattr(v, "name", v))
def test_imports_point_one_way(kind: str, path: Path) -> None:
    foreign = sorted(n for n in imported(path) if not allowed(n, ALLOWED[kind]))
    assert foreign == [], f"{path.relative_to(ROOT)} imports {foreign}"


def test_the_check_notices_a_forbidden_import() -> None:
    assert not allowed("syncer.api.client", ALLOWED["ledger"])
    assert not allowed("syncer.config", ALLOWED["ledger"])
    assert not allowed("sqlalchemy", ALLOWED["lock"])
