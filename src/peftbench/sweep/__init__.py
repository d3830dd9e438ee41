"""Sweeps: plan a suite of runs, execute them (local processes or Ray), show and keep their state.

`plan` decides what to run, `driver` runs a plan with an `executor` (`local`, `ray_exec`), `worker` runs
one planned run in its own process, `state` is what lives on disk (heartbeats, locks, the sweep's plan)
and `live` draws the status table from it, for the sweep itself and for `peftbench status` elsewhere.
"""
