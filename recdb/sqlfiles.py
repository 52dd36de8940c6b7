"""Views and macros kept as `.sql` files under `sql/`, one object per file, file name = object name.

They are replaceable objects: a migration run drops every one of them first, and re-creates them all from the files
when it leaves the schema at head (a database below head refuses recdb's commands anyway).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from recdb.resources import resource_dir

# directory under sql/ -> the statement that drops an object of that kind
_DROP = {
    "views": "DROP VIEW IF EXISTS {name}",
    "macros": "DROP MACRO IF EXISTS {name}",
    "table_macros": "DROP MACRO TABLE IF EXISTS {name}",
}


@dataclass(frozen=True)
class SqlObject:
    kind: str
    name: str
    path: Path

    @property
    def create_sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def drop_sql(self) -> str:
        return _DROP[self.kind].format(name=self.name)


def sql_objects() -> list[SqlObject]:
    """Every managed object, in creation order: by kind as listed in `_DROP`, then by file name."""
    root = resource_dir("sql")
    return [
        SqlObject(kind, path.stem, path)
        for kind in _DROP
        for path in sorted((root / kind).glob("*.sql"))
    ]


def drop_all(execute: Callable[[str], object]) -> None:
    for obj in reversed(sql_objects()):
        execute(obj.drop_sql)


def create_all(execute: Callable[[str], object]) -> None:
    for obj in sql_objects():
        execute(obj.create_sql)
