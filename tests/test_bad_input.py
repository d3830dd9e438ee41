"""The bad-input corpus (issue 10): one matrix of hostile or careless inputs to `run`, `import`,
`report`, `list` and `sweep`. Each case asserts its exit code, exactly one line on stderr naming the
file / key / value, no traceback, nothing written outside the folders the command may write to, and
nothing half-written (no temp files left).

Cases run in-process through typer's CliRunner (the same code path as the console script, minus the
interpreter start) with the model loader replaced by a tripwire: every `run` case must fail before
any model loads. A few cases where a real process matters (a named pipe that would block, JSON that
would overflow the C stack) also run as `python -m peftbench`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from typer.testing import CliRunner

from test_analysis_load import write_run

STORE = "deep/er/store"  # deep enough that `../..` from it still lands inside tmp, where the snapshot sees it
LORA = {"peft_type": "LORA", "r": 4, "target_modules": ["q_proj", "v_proj"]}
PARAMS = {"model_id": "no-such-model-folder"}  # a case that got past the checks would fail on this instead
EXP = Path("experiments/minimath/lora/t")


@dataclass
class Case:
    setup: Callable[[Path], list[str]]  # builds the files, returns the command line
    parts: list[str]  # what the single stderr line must contain
    code: int = 2
    writable: list[str] = field(default_factory=list)  # folders (relative to tmp) the command may write to
    check: Callable[[Path, object], None] | None = None  # more assertions on the outcome
    stdout: list[str] = field(default_factory=list)  # what stdout must contain (text printed as is)


def experiment(tmp: Path, adapter=LORA, params=PARAMS, name: str = "t", root: str = "") -> Path:
    """An experiment folder; `adapter`/`params`: a dict (JSON), bytes (raw), or a callable(path)."""
    folder = tmp / root / "experiments" / "minimath" / "lora" / name
    folder.mkdir(parents=True, exist_ok=True)
    for filename, content in (("adapter_config.json", adapter), ("training_params.json", params)):
        path = folder / filename
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        elif content is not None:
            path.write_text(json.dumps(content))
    return folder


def run_case(**kwargs) -> Callable[[Path], list[str]]:
    """`peftbench run` of an experiment; `args` are added (a later --output-dir wins), `files` are
    {relative path: bytes} made first."""
    extra = kwargs.pop("args", [])
    files = kwargs.pop("files", {})

    def setup(tmp: Path) -> list[str]:
        for rel, content in files.items():
            _write(rel, content)(tmp)
        folder = experiment(tmp, **kwargs)
        return ["run", str(folder.relative_to(tmp)), "--output-dir", "results", *extra]

    return setup


def _symlink(target: str):
    return lambda path: os.symlink(target, path)


def _loop(path: Path):
    os.symlink(path.name + ".other", path)
    os.symlink(path.name, str(path) + ".other")


DEEP = b"[" * 100_000 + b"]" * 100_000

RUN_CASES = {
    "adapter: dangling symlink": Case(run_case(adapter=_symlink("missing.json")), ["adapter_config.json", "broken symlink"]),
    "adapter: symlink loop": Case(run_case(adapter=_loop), ["adapter_config.json", "symlink loop"]),
    "adapter: a folder": Case(run_case(adapter=lambda p: p.mkdir()), ["adapter_config.json", "a folder, expected a regular file"]),
    "adapter: named pipe": Case(run_case(adapter=os.mkfifo), ["adapter_config.json", "a named pipe"]),
    "adapter: nested 100k deep": Case(run_case(adapter=DEEP), ["adapter_config.json", "nested deeper than"]),
    "adapter: duplicate key": Case(run_case(adapter=b'{"peft_type": "LORA", "r": 4, "r": 64}'), ["adapter_config.json", "duplicate key 'r'"]),
    "adapter: too big": Case(run_case(adapter=b'{"peft_type": "LORA", "x": "' + b"a" * (5 * 2**20) + b'"}'),
                             ["adapter_config.json", "more than the"]),
    "adapter: r as a string": Case(run_case(adapter={**LORA, "r": "8"}), ["adapter_config.json", "'8' for 'r'", "integer"]),
    "adapter: r 1e12": Case(run_case(adapter={**LORA, "r": 1e12}), ["adapter_config.json", "1000000000000.0 for 'r'"]),
    "adapter: r 10**12": Case(run_case(adapter={**LORA, "r": 10**12}), ["adapter_config.json", "for 'r': expected a rank"]),
    "adapter: r true": Case(run_case(adapter={**LORA, "r": True}), ["adapter_config.json", "True for 'r'"]),
    "adapter: lora_dropout -0.5": Case(run_case(adapter={**LORA, "lora_dropout": -0.5}), ["adapter_config.json", "-0.5 for 'lora_dropout'"]),
    "adapter: NaN alpha": Case(run_case(adapter=b'{"peft_type": "LORA", "lora_alpha": NaN}'), ["adapter_config.json", "lora_alpha", "NaN"]),
    "params: not UTF-8": Case(run_case(params=b'{"model_id": "\xff"}'), ["training_params.json", "not UTF-8"]),
    "params: a folder": Case(run_case(params=lambda p: p.mkdir()), ["training_params.json", "a folder"]),
    "params: duplicate key": Case(run_case(params=b'{"max_steps": 2, "max_steps": 200}'), ["training_params.json", "duplicate key 'max_steps'"]),
    "params: lr NaN": Case(run_case(params=b'{"optimizer_kwargs": {"lr": NaN}}'), ["training_params.json", "lr", "nan"]),
    "params: batch_size true": Case(run_case(params={"batch_size": True}), ["training_params.json", "True for 'batch_size'"]),
    "params: batch_size 8.0": Case(run_case(params={"batch_size": 8.0}), ["training_params.json", "8.0 for 'batch_size'"]),
    "params: batch_size '8'": Case(run_case(params={"batch_size": "8"}), ["training_params.json", "'8' for 'batch_size'"]),
    "params: warmup_ratio Infinity": Case(run_case(params=b'{"warmup_ratio": Infinity}'), ["training_params.json", "warmup_ratio"]),
    "--set lr NaN": Case(run_case(args=["--set", "optimizer_kwargs.lr=NaN"]), ["command line", "lr", "nan"]),
    "--set data=1 then data.test_size": Case(run_case(args=["--set", "data=1", "--set", "data.test_size=2"]),
                                            ["--set 'data.test_size=2'", "'data' was set to a value"]),
    "--set data.test_size then data=1": Case(run_case(args=["--set", "data.test_size=2", "--set", "data=1"]),
                                            ["--set 'data=1'", "conflicts"]),
    "--set empty key part": Case(run_case(args=["--set", "data..test_size=2"]), ["--set 'data..test_size=2'", "KEY=VALUE"]),
    "experiment name with [markup]": Case(run_case(name="[red]x"), ["[red]x", "experiment name", "expected a name"]),
    "experiment name with ..": Case(run_case(name="x..y"), ["'x..y'", "experiment name"]),
    # Folders `a[` and `]b` above the experiment: the path holds `[/]`, a closing tag with nothing to
    # close (rich raised on it); it must print as itself.
    "path with [/] above the experiment": Case(run_case(adapter=b"{", root="a[/]b"),
                                                ["a[/]b/experiments/minimath/lora/t/adapter_config.json", "malformed JSON"]),
    # Phase 2: sizes checked against what the task supplies, the output folder probed, all before a model loads.
    "batch_size above the training data": Case(run_case(params={**PARAMS, "batch_size": 8, "data": {"train_size": 4}}),
                                               ["training_params.json", "batch_size is 8", "4 training examples"]),
    "--set data.test_size beyond the task": Case(run_case(args=["--set", "data.test_size=100000"]),
                                                 ["command line", "data.test_size is 100000", "at most"]),
    "data.gsm8k_test_size beyond the file": Case(run_case(params={**PARAMS, "data": {"gsm8k_test_size": 5000}}),
                                                 ["training_params.json", "data.gsm8k_test_size is 5000", "at most 1319"]),
    "data.forgetting_size beyond the corpus": Case(run_case(args=["--set", "data.forgetting_size=100000"]),
                                                   ["command line", "data.forgetting_size is 100000", "at most"]),
    "--output-dir is a file": Case(run_case(args=["--output-dir", "afile"], files={"afile": b"x"}),
                                   ["--output-dir afile", "not a folder"]),
    "--output-dir under a file": Case(run_case(args=["--output-dir", "afile/results"], files={"afile": b"x"}),
                                      ["--output-dir afile/results", "cannot create"]),
}


def _record(tmp: Path, folder: str, stem: str, **changes) -> Path:
    """A successful result record (as `write_run` makes them) with run_info fields changed."""
    path = write_run(tmp / folder, "lora/x", task="minimath")
    data = json.loads(path.read_text())
    data["run_info"].update(changes)
    for key, value in changes.items():
        if value is None:
            del data["run_info"][key]
    target = tmp / folder / "minimath" / f"{stem}.json"
    path.unlink()
    target.write_text(json.dumps(data))
    return target


def import_case(task_value, source: str = "hf", own: bool = False, extra: Callable[[Path], None] | None = None,
                store: str = STORE, extra_args: list[str] = ()):
    def setup(tmp: Path) -> list[str]:
        _record(tmp, "published", "good")
        _record(tmp, "published", "evil", task=task_value(tmp) if callable(task_value) else task_value)
        if extra:
            extra(tmp)
        if own:  # the user's own result where `task: "."` with `--source minimath` used to land
            write_run(tmp / STORE, "lora/default")
        return ["import", str(tmp / "published"), "--output-dir", str(tmp / store), "--source", source, *extra_args]

    return setup


def _experiment_named(name: str):
    return lambda tmp: _record(tmp, "published", "named", experiment_name=name)


def _own_result_untouched(tmp: Path, result) -> None:
    own = tmp / STORE / "minimath" / "lora--default.json"
    assert json.loads(own.read_text())["run_info"]["experiment_name"] == "lora/default"
    assert (tmp / STORE / "minimath" / "hf" / "good.json").is_file()


def _imported_good_only(tmp: Path, result) -> None:
    assert "imported 1 files" in result.stdout
    assert (tmp / STORE / "minimath" / "hf" / "good.json").is_file()


def report_case(bad: Callable[[Path], None], extra: list[str] = ()):
    def setup(tmp: Path) -> list[str]:
        write_run(tmp / "results", "lora/default", correct=[True, False, True])
        bad(tmp)
        return ["report", "--results", str(tmp / "results"), "--out", str(tmp / "report"), *extra]

    return setup


def _escaping_task_with_samples(tmp: Path) -> None:
    path = _record(tmp, "results", "lora--evil", task="../../escaped")
    path.with_name("lora--evil.samples.png").write_bytes(b"\x89PNG\r\n\x1a\n")


def _write(rel: str, content: bytes):
    def make(tmp: Path) -> None:
        path = tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    return make


def _summary_escapes_html(tmp: Path, result) -> None:
    summary = (tmp / "report" / "summary.md").read_text()
    assert "<img" not in summary and "&lt;img src=x onerror=alert(1)&gt;" in summary


IMPORT_REPORT_CASES = {
    "import: record task ../..": Case(import_case("../.."), ["evil.json", "'../..'"], code=0, writable=[STORE], check=_imported_good_only),
    "import: record task absolute": Case(import_case(lambda tmp: str(tmp / "escaped")), ["evil.json", "escaped'"],
                                         code=0, writable=[STORE], check=_imported_good_only),
    "import: task . over own results": Case(import_case(".", source="hf", own=True), ["evil.json", "'.'"], code=0,
                                            writable=[STORE], check=_own_result_untouched),
    "import: --source ../x": Case(import_case("minimath", source="../x"), ["--source '../x'"]),
    "import: --task ../x": Case(import_case("minimath", extra_args=["--task", "../x"]), ["--task '../x'"]),
    "import: --output-dir is a file": Case(import_case("minimath", store="afile", extra=_write("afile", b"x")),
                                           ["--output-dir", "afile", "not a folder"]),
    "import: record experiment_name ../x": Case(import_case("minimath", extra=_experiment_named("../../x")),
                                                ["named.json", "experiment_name"], code=0, writable=[STORE]),
    "import: --source with [markup]": Case(import_case("minimath", source="[b]x"), ["--source '[b]x'"]),
    "import: nested 100k deep": Case(import_case("minimath", extra=_write("published/minimath/deep.json", DEEP)),
                                     ["deep.json", "nested deeper"], code=0, writable=[STORE]),
    "report: task escaping --out with samples": Case(report_case(_escaping_task_with_samples), ["lora--evil.json", "../../escaped"],
                                                     code=0, writable=["report"]),
    "report: nested 100k deep": Case(report_case(_write("results/minimath/deep.json", DEEP)), ["deep.json", "nested deeper"],
                                     code=0, writable=["report"]),
    "report: duplicate keys": Case(report_case(_write("results/minimath/dup.json", b'{"run_info": {}, "run_info": {}}')),
                                   ["dup.json", "duplicate key 'run_info'"], code=0, writable=["report"]),
    "report: named pipe *.json": Case(report_case(lambda tmp: os.mkfifo(tmp / "results" / "minimath" / "pipe.json")),
                                      ["pipe.json", "a named pipe"], code=0, writable=["report"]),
    "report: --out under a file": Case(report_case(_write("afile", b"x"), ["--out", "afile/report"]),
                                       ["--out", "afile/report", "cannot create"]),
    "report: --out is a file": Case(report_case(_write("afile", b"x"), ["--out", "afile"]), ["--out", "afile", "expected a folder"]),
    "report: record experiment_name with a slash too many": Case(
        report_case(lambda tmp: _record(tmp, "results", "lora--bad", experiment_name="a/b/c")),
        ["lora--bad.json", "experiment_name"], code=0, writable=["report"]),
    "report: HTML in an experiment name": Case(
        report_case(lambda tmp: _record(tmp, "results", "lora--<img src=x onerror=alert(1)>", experiment_name=None)),
        ["empty"], code=0, writable=["report"], check=_summary_escapes_html),
    "report --format table: [markup] in names": Case(
        report_case(lambda tmp: _record(tmp, "results", "lora--x[1]", experiment_name=None,
                                        train_config={"model_id": "org/[red]m[/red]"}), ["--format", "table"]),
        ["empty"], code=0, stdout=["lora/x[1]", "[red]m[/red]"]),
}


def list_case(tmp: Path) -> list[str]:
    experiment(tmp, name="[bold]x")
    return ["list", "--experiments-dir", str(tmp / "experiments"), "--results-dir", str(tmp / "results")]


def sweep_case(name: str = "t", params: dict | None = None, args: list[str] = ("--dry-run",), files: dict = {}):
    def setup(tmp: Path) -> list[str]:
        for rel, content in files.items():
            _write(rel, content)(tmp)
        experiment(tmp, name=name, params=params or {})
        return ["sweep", "experiments", "--output-dir", "results", *args]

    return setup


def demo_case(tmp: Path) -> list[str]:
    _write("afile", b"x")(tmp)
    return ["demo", "--output-dir", "afile", "--experiments-dir", str(Path(__file__).parents[1] / "experiments")]


def sweep_pipe_case(tmp: Path) -> list[str]:
    experiment(tmp, params={})
    (tmp / "results" / "minimath").mkdir(parents=True)
    os.mkfifo(tmp / "results" / "minimath" / "lora--t.json")  # where the run's result would be
    return ["sweep", str(tmp / "experiments"), "--dry-run", "--output-dir", str(tmp / "results")]


OUTPUT_CASES = {
    "sweep --dry-run: named pipe in a result's place": Case(sweep_pipe_case, ["empty"], code=0, stdout=["1 to run"]),
    "list: [markup] in an experiment name": Case(list_case, ["[bold]x", "experiment name"]),
    "sweep --dry-run: [markup] in an experiment name": Case(sweep_case(name="[b]y"), ["[b]y", "experiment name"]),
    "sweep: batch_size above the training data": Case(sweep_case(params={"batch_size": 8, "data": {"train_size": 4}}),
                                                      ["training_params.json", "batch_size is 8"]),
    "sweep: --output-dir is a file": Case(sweep_case(args=["--output-dir", "afile"], files={"afile": b"x"}),
                                          ["--output-dir afile", "not a folder"]),
    "demo: --output-dir is a file": Case(demo_case, ["--output-dir afile", "not a folder"]),
}

CASES = {**RUN_CASES, **IMPORT_REPORT_CASES, **OUTPUT_CASES}


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under root (files, links, pipes; links not followed) with its size and mtime."""
    found = {}
    for folder, dirs, files in os.walk(root):
        for name in files + [d for d in dirs if os.path.islink(os.path.join(folder, d))]:
            path = os.path.join(folder, name)
            info = os.lstat(path)
            found[os.path.relpath(path, root)] = (info.st_size, info.st_mtime_ns)
    return found


def assert_outcome(case: Case, tmp: Path, code: int, stdout: str, stderr: str, before: dict, result=None) -> None:
    output = stdout + stderr
    assert code == case.code, output
    assert "Traceback" not in output
    lines = stderr.strip().splitlines()
    if case.parts == ["empty"]:
        assert lines == [], stderr
    else:
        assert len(lines) == 1, f"expected one line on stderr, got:\n{stderr}"
        for part in case.parts:
            assert part in lines[0], f"{part!r} not in {lines[0]!r}"
    for part in case.stdout:
        assert part in stdout, f"{part!r} not in stdout:\n{stdout}"
    after = snapshot(tmp)
    changed = [p for p, stamp in after.items() if before.get(p) != stamp]
    outside = [p for p in changed if not any(p.startswith(w + os.sep) for w in case.writable)]
    assert outside == [], f"written outside {case.writable}: {outside}"
    assert not [p for p in after if p.endswith(".tmp")], "a temp file was left half-written"
    assert not (tmp / "escaped").exists()
    if case.check:
        case.check(tmp, result)


@pytest.fixture
def tripwire(monkeypatch):
    """No bad-input case may get as far as loading a model; `run` installs a SIGTERM handler that must
    not outlive the test."""
    import peftbench.pipeline.text

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded for a config that should have been refused")

    monkeypatch.setattr(peftbench.pipeline.text, "load_model", no_model)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input(name, tmp_path, tripwire, monkeypatch):
    from peftbench.cli import app

    case = CASES[name]
    monkeypatch.chdir(tmp_path)  # relative paths in cases resolve under tmp_path
    args = case.setup(tmp_path)
    before = snapshot(tmp_path)
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert_outcome(case, tmp_path, result.exit_code, result.stdout, result.stderr, before, result)


# In a real process: a blocking open or a C-stack overflow would show here as a hang or a crash.
PROCESS_CASES = ["adapter: named pipe", "adapter: nested 100k deep"]


@pytest.mark.parametrize("name", PROCESS_CASES)
def test_bad_input_in_a_real_process(name, tmp_path):
    case = CASES[name]
    args = case.setup(tmp_path)
    before = snapshot(tmp_path)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-m", "peftbench", *args], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=120)
    assert_outcome(case, tmp_path, proc.returncode, proc.stdout, proc.stderr, before)
