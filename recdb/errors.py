"""Typed errors. The library raises these; the CLI turns each into one line and an exit code."""

from __future__ import annotations


class RecdbError(Exception):
    """Base of every error recdb raises on purpose."""

    exit_code = 1


class InputError(RecdbError):
    """The user's input (a file, a column, an option) cannot be used. Nothing was changed."""

    exit_code = 2


class DatabaseLockedError(RecdbError):
    """Another process holds the database file."""

    exit_code = 3

    def __init__(self, path: str, holder: str | None):
        self.path = path
        self.holder = holder
        who = f"another process ({holder})" if holder else "another process"
        super().__init__(
            f"database {path} is locked by {who}; wait for it to finish or stop it, then retry "
            "(or raise --lock-timeout)"
        )


class SchemaError(RecdbError):
    """The database schema is missing or not at the revision this recdb needs."""

    exit_code = 4
