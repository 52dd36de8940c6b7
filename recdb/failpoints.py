"""Named points where the crash tests kill the process (RECDB_FAILPOINT=name), to prove a SIGKILL there corrupts
nothing. Unset, a failpoint costs one dictionary lookup."""

from __future__ import annotations

import os
import signal


def reached(name: str) -> None:
    if os.environ.get("RECDB_FAILPOINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
