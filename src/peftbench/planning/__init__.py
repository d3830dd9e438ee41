"""From an experiment folder to a validated plan, before any model loads: the experiment folder and
its files (`experiment`), the validated training parameters (`config`) and the planned run with its
overrides applied (`plan`). No torch at import: a sweep's driver plans every run."""
