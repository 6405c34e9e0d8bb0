"""Events the engine reports to the runtime, the control clients and the log.

The runtime fans them out; the engine never does I/O to report them
(../shared/ARCHITECTURE.md, "How a datagram travels", step 4).
"""

from __future__ import annotations

from dataclasses import dataclass

IKE_UP = "ike_up"
IKE_DOWN = "ike_down"
CHILD_UP = "child_up"
CHILD_DOWN = "child_down"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class Event:
    kind: str  # one of the constants above
    ike_name: str
    child_name: str | None = None
    reason: str = ""
    message: str = ""  # one line for the operator's log, with the SA's SPIs
    ike_uniqueid: int = 0
    child_uniqueid: int = 0
