"""What a run measures and reports while it runs: memory, parameter counts, sizes and timers
(`measure`), the accounted training memory (`memory_accounting`), the progress bars (`progress`) and
the experiment trackers of `--report-to` (`trackers`)."""
