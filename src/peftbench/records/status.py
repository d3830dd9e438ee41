"""How a run stands, in one vocabulary: the record's `train_info.status` words, and the words of the
states a sweep or a search sees before a run has its own record. The status table, the sweep's
lines, `smoke`, `tune` and every reader use these, so a run that succeeded is `success` everywhere.

Nothing on disk carries the states beyond the record's: the sweep's state file keeps each run's
plan (`run` / `skip` and why), never its status, and heartbeats their phase.
"""

from __future__ import annotations

from typing import Literal, get_args

# A record's train_info.status (★ the record's format: these words never change). `success` goes to
# results/, the others to cancelled_results/.
Status = Literal["success", "cancelled", "failed"]
SUCCESS, CANCELLED, FAILED = get_args(Status)  # cancelled: stopped from outside (a sweep reruns it);
#                                                failed: the run broke by itself (rerun with --retry-failed)

# States of a run without a record of its own (yet), in the status table and a search's trials.
SKIPPED = "skipped"  # the plan skipped it, or another process has it
RUNNING = "running"
QUEUED = "queued"
INTERRUPTED = "interrupted"  # its process is gone without a record; a resumed sweep or search runs it again
NOT_RUN = "not run"  # the sweep stopped before it

# The order of the status table's summary line.
STATES = (SUCCESS, RUNNING, QUEUED, SKIPPED, FAILED, CANCELLED, INTERRUPTED, NOT_RUN)
