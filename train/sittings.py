"""Every sitting of a resumable training run, for its card (DESIGN: "every sitting in the
card"). A long run here is trained in several sittings, stopped by a session's end or a
sitting's clock and continued with ``--resume``; the card says which commands trained it,
from which step to which, on what device, for how many minutes.

The list lives in the run's checkpoint. A sitting that was killed between two checkpoints
never wrote its end, so the next sitting closes it at the step its last checkpoint holds
(the steps after that were lost and are trained again).
"""

from __future__ import annotations

import shlex
import time
from datetime import datetime, timezone

import torch

from models.device import describe_device

STOPPED = "stopped; resumed from its last checkpoint"


def command_line(prog: str, argv: list[str]) -> str:
    """The sitting's command as a person would type it again."""
    return " ".join([prog, *(shlex.quote(a) for a in argv)])


class Sittings:
    """The sittings of one run: the earlier ones from its checkpoint and, with ``new``, this one
    (a run resumed only to be evaluated again trains nothing and adds no sitting)."""

    def __init__(self, earlier: list[dict] | None, command: str, from_step: int, device: torch.device | str,
                 new: bool = True):
        self.records = [dict(s) for s in earlier or []]
        if self.records and "to_step" not in self.records[-1]:
            # killed after its last checkpoint, which is the one this sitting resumes from
            self.records[-1].pop("last_step", None)
            self.records[-1].update(to_step=int(from_step), ended=STOPPED)
        self._open = new
        if new:
            self.records.append({"command": command, "from_step": int(from_step), "device": describe_device(torch.device(device)),
                                 "threads": torch.get_num_threads(),
                                 "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                                 "minutes": 0.0})
        self._t0 = time.time()

    def _minutes(self) -> float:
        return round((time.time() - self._t0) / 60, 1)

    def at_checkpoint(self, step: int) -> list[dict]:
        """The list to save in a checkpoint written at ``step`` (the sitting goes on)."""
        if self._open:
            self.records[-1].update(last_step=int(step), minutes=self._minutes())
        return self.records

    def end(self, step: int) -> list[dict]:
        """This sitting ends at ``step``: the list for the card and the last checkpoint."""
        if self._open:
            self.records[-1].pop("last_step", None)
            self.records[-1].update(to_step=int(step), minutes=self._minutes())
            self._open = False
        return self.records
