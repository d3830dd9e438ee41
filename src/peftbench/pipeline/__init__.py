"""Running one planned run (`peftbench.planning.plan.RunPlan`): the sequence every run follows (`sequence.py`),
with a strategy per modality (`text.py`, `image.py`) supplying the model, data, loss and evaluation,
and the result record built from what the run accumulated (`record.py`)."""

from peftbench.pipeline.sequence import RunOutcome, execute

__all__ = ["RunOutcome", "execute"]
