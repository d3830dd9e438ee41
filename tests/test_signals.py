"""Outside stops reach a run even where Python swallows the exception a signal handler raises."""

import subprocess
import sys
import textwrap

import pytest

from peftbench.system import signals

SWALLOWED = textwrap.dedent("""
    import os, signal, sys
    from peftbench.system.signals import Terminated, check_stop, handle_stops

    # As a foreground process has it: a parent started in the background (`cmd &`) passes SIGINT on
    # ignored, and handle_stops rightly leaves an ignored SIGINT alone (the test below).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    handle_stops()

    class Dies:
        def __del__(self):  # the handler runs in here: Python prints "Exception ignored" and goes on
            os.kill(os.getpid(), signal.{name})

    Dies()
    print("went on", flush=True)
    try:
        check_stop()
    except (Terminated, KeyboardInterrupt) as err:
        print("stopped:", type(err).__name__, flush=True)
        sys.exit(3)
""")


@pytest.mark.parametrize("name, raised", [("SIGTERM", "Terminated"), ("SIGINT", "KeyboardInterrupt")])
def test_a_stop_swallowed_in_a_destructor_is_raised_at_the_next_check(name, raised):
    result = subprocess.run([sys.executable, "-c", SWALLOWED.format(name=name)], capture_output=True, text=True,
                            timeout=120)
    assert "Exception ignored" in result.stderr  # the signal's own exception was lost ...
    assert result.stdout.splitlines() == ["went on", f"stopped: {raised}"] and result.returncode == 3  # ... not the stop


def test_an_ignored_sigint_stays_ignored():
    """A process started in the background inherits SIGINT ignored, on purpose: Ctrl-C in the terminal
    must not reach it. handle_stops takes over SIGTERM and leaves that SIGINT alone."""
    import signal

    saved = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signals.handle_stops()
        assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
        assert callable(signal.getsignal(signal.SIGTERM))
    finally:
        for s, handler in saved.items():
            signal.signal(s, handler)


def test_a_run_with_a_pending_stop_is_recorded_cancelled(make_experiment, tiny_params, tmp_path, monkeypatch):
    from peftbench.pipeline import execute
    from peftbench.planning.plan import plan_run

    lora = {"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"], "task_type": "CAUSAL_LM"}
    monkeypatch.setattr(signals, "_stop_requested", signals.Terminated())  # as if swallowed in a __del__
    outcome = execute(plan_run(make_experiment(adapter=lora), overrides=tiny_params), tmp_path / "results")
    assert outcome.status == "cancelled" and outcome.record.run_info.error_msg == "terminated by SIGTERM"
    assert outcome.path == tmp_path / "cancelled_results" / "minimath" / "lora--t.json"
