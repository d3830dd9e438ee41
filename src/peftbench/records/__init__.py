"""The result record and its files: the typed record and the one reader of a record file (`record`),
the status words of a run (`status`), where records and their sidecars go
on disk and how they are written and found (`results`), the safe names that become parts of their
paths (`names`) and the reference suite's keys the record adds (`reference_compat`). No torch at
import: the reader install and the dashboard use this package."""
