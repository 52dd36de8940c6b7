"""Where the shipped non-Python files live: `alembic/` (migrations) and `sql/` (views, macros, example queries)."""

from __future__ import annotations

from pathlib import Path

from recdb.errors import RecdbError

_PACKAGE = Path(__file__).resolve().parent


def resource_dir(name: str) -> Path:
    """The `name` directory: inside the installed package (a wheel puts it under `recdb/_resources/`), or at the root
    of a source checkout (an editable install)."""
    for candidate in (_PACKAGE / "_resources" / name, _PACKAGE.parent / name):
        if candidate.is_dir():
            return candidate
    raise RecdbError(f"recdb is installed without its {name}/ directory; reinstall the package")
