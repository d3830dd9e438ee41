"""The process and the machine a run lives in: package versions and hardware (`environment`), optional
dependencies (`extras`), the cache folders the environment chooses (`folders`), CPU threads
(`threads`), stop signals and exit codes (`signals`), other libraries' logging (`logs`) and
`peftbench doctor`'s checks of it all (`doctor`)."""
