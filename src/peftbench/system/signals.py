"""How a run ends, as an exit code, and how outside stops reach it — one place for `run`, the sweep
worker and the executors that read their exit codes.

SIGTERM (a scheduler's preemption, `kill`) is handled like Ctrl-C: it raises `Terminated` inside the
run, so the run still writes its `cancelled` record before the process exits with 143.
"""

from __future__ import annotations

import signal

from peftbench.records.status import SUCCESS

EXIT_OK = 0
EXIT_FAILED = 1  # the run broke by itself (error, out of memory, NaN loss): recorded `failed`
EXIT_USER_ERROR = 2  # a mistake in the input, found before anything was written
EXIT_LOCKED = 75  # sweep worker: another process is running this run
EXIT_DONE_ELSEWHERE = 76  # sweep worker: another process finished it meanwhile
EXIT_INTERRUPTED = 130  # Ctrl-C: recorded `cancelled`
EXIT_TERMINATED = 143  # SIGTERM: recorded `cancelled`


class Terminated(BaseException):
    """SIGTERM arrived: handled like Ctrl-C, so the run leaves a record."""


# A signal handler runs between any two bytecodes, including inside a `__del__` (autograd frees saved
# tensors during backward), where Python prints "Exception ignored" and swallows the exception: the
# run then went on training and finished as if never stopped. So the handler also leaves this flag,
# and the run's loops call `check_stop()` at every step and batch.
_stop_requested: BaseException | None = None


def handle_stops() -> None:
    """Turn SIGTERM into `Terminated` and SIGINT into KeyboardInterrupt in the main thread, each also
    left in the flag `check_stop()` reads (call once, early, in a process that runs)."""

    def stop(signum, frame):
        global _stop_requested
        _stop_requested = Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()
        raise type(_stop_requested)()

    signal.signal(signal.SIGTERM, stop)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:  # not where SIGINT is ignored on purpose
        signal.signal(signal.SIGINT, stop)


def check_stop() -> None:
    """Raise the stop a signal asked for, if its own exception was swallowed where it landed."""
    if _stop_requested is not None:
        raise _stop_requested


def is_stop(error: BaseException | None) -> bool:
    """A stop from outside (Ctrl-C, SIGTERM): `cancelled`, which a sweep reruns."""
    return isinstance(error, (KeyboardInterrupt, Terminated))


def exit_code(status: str, error: BaseException | None) -> int:
    """The process exit code for a run that ended with `status` ("success" | "cancelled" | "failed")."""
    if status == SUCCESS:
        return EXIT_OK
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, Terminated):
        return EXIT_TERMINATED
    return EXIT_FAILED


def describe(error: BaseException) -> str:
    """One line for the record's error_msg."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted by the user (Ctrl-C)"
    if isinstance(error, Terminated):
        return "terminated by SIGTERM"
    if type(error).__name__ == "OutOfMemoryError":  # torch's, without importing torch here
        return f"out of memory: {str(error).splitlines()[0]}"
    return f"{type(error).__name__}: {error}"
