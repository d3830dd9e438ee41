"""Bad input to the real `peftbench` command: exit code 2, one line naming the culprit, no traceback,
nothing written. Each case spawns a Python process (a few seconds: it imports torch)."""

import os
import subprocess
import sys

import pytest

LORA = {"peft_type": "LORA", "r": 4, "target_modules": ["q_proj", "v_proj"]}
EXP = "experiments/minimath/lora/t"


def cli(args, cwd, **env):
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", **env}
    assert full_env.get("PEFTBENCH_CACHE"), "the autouse fixture isolates the cache"
    return subprocess.run([sys.executable, "-m", "peftbench", *args], cwd=cwd, env=full_env,
                          capture_output=True, text=True, timeout=300)


def assert_clean_failure(proc, tmp_path, *expected):
    output = proc.stdout + proc.stderr
    assert proc.returncode == 2, output
    assert "Traceback" not in output
    message = proc.stderr.strip()
    assert message and "\n" not in message, f"expected one line on stderr, got:\n{proc.stderr}"
    for part in expected:
        assert part in message, f"{part!r} not in {message!r}"
    for folder in ("results", "cancelled_results"):
        written = [p for p in (tmp_path / folder).rglob("*") if p.is_file()]
        assert written == [], written


TINY = "tiny"  # training_params.json = the tiny model's fast parameters (the run gets past set-up)

# name -> (adapter_config.json: dict, raw text or None; training_params.json: dict, TINY or None;
#          parts the one-line message must contain)
CASES = {
    "missing folder": (None, None, ["experiments/minimath/lora/missing", "not found"]),
    "malformed adapter config": ('{\n  "peft_type": "LORA",\n}\n', None, ["adapter_config.json", "line 3"]),
    "unknown peft_type": ({"peft_type": "NOPE"}, TINY, ["adapter_config.json", "peft_type", "NOPE"]),
    "unknown parameter": (LORA, {"batch_sise": 4}, ["training_params.json", "batch_sise"]),
    "mistyped parameter": (LORA, {"batch_size": "eight"}, ["training_params.json", "batch_size", "eight"]),
    "max_steps 0": (LORA, {"max_steps": 0}, ["training_params.json", "max_steps", "0"]),
    "negative lr": (LORA, {"optimizer_kwargs": {"lr": -0.001}}, ["training_params.json", "lr", "-0.001"]),
    "missing target module": (
        {**LORA, "target_modules": ["nonexistent_proj"]}, TINY,
        ["adapter_config.json", "target_modules", "nonexistent_proj"],
    ),
    "model not found offline": (
        LORA, {"model_id": "no-such-org/no-such-model"}, ["model_id", "no-such-org/no-such-model"],
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_run_bad_input(case, tmp_path, make_experiment, request):
    adapter, params, expected = CASES[case]
    if case == "missing folder":
        target = "experiments/minimath/lora/missing"
        (tmp_path / "experiments" / "minimath" / "lora").mkdir(parents=True)
    else:
        if params == TINY:
            params = request.getfixturevalue("tiny_params")
        folder = make_experiment(adapter=None if isinstance(adapter, str) else adapter, params=params)
        if isinstance(adapter, str):
            (folder / "adapter_config.json").write_text(adapter)
        target = EXP
    proc = cli(["run", target], cwd=tmp_path)
    assert_clean_failure(proc, tmp_path, *expected)


def test_list_missing_experiments_dir(tmp_path):
    proc = cli(["list", "--experiments-dir", "nowhere"], cwd=tmp_path)
    assert_clean_failure(proc, tmp_path, "nowhere")


def test_sigterm_mid_run_leaves_a_cancelled_record(tmp_path, make_experiment, tiny_model_dir):
    """A scheduler's SIGTERM during a run: exit 143, a cancelled record, nothing among the results."""
    import json
    import signal
    import time

    from conftest import TINY_PARAMS

    params = {**TINY_PARAMS(tiny_model_dir), "max_steps": 100000, "eval_steps": 100000}
    exp = make_experiment(adapter=LORA, params=params)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "peftbench", "run", str(exp), "--quiet"], cwd=tmp_path,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    header = proc.stdout.readline()  # printed once the run is planned and the handler installed
    assert "lora/t" in header, proc.stderr.read()
    time.sleep(3)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 143, err[-2000:]
    data = json.loads((tmp_path / "cancelled_results" / "minimath" / "lora--t.json").read_text())
    assert data["train_info"]["status"] == "cancelled"
    assert data["run_info"]["error_msg"] == "terminated by SIGTERM"
    assert not (tmp_path / "results" / "minimath").exists()


# Loaded by every Python process started with its folder on PYTHONPATH: when peft is imported (a run
# imports it before checking the adapter config), it logs and warns as bitsandbytes and the kernels
# loader do on CPUs with AVX512-BF16, where `import bitsandbytes` tries the Hub for a CPU kernel.
NOISY_SITE = '''
import importlib.abc, importlib.machinery, logging, sys, warnings

class _Noisy(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "peft":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        real = spec.loader.exec_module
        def exec_module(module):
            real(module)
            logging.getLogger("kernels._internals.hf_hub").warning("NOISE-1 Skipping publisher trust check")
            logging.getLogger("bitsandbytes.backends.cpu.ops").warning("NOISE-2 Failed to load CPU gemm_4bit_forward")
            warnings.warn("NOISE-3 a library's FutureWarning", FutureWarning)
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, _Noisy())
'''


def test_other_libraries_noise_never_precedes_the_one_line_error(tmp_path, make_experiment, tiny_params):
    """Third-party warnings logged while a run imports its libraries stay hidden, so a user mistake is
    one line on stderr; `peftbench -v` shows them (which proves they were emitted)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(NOISY_SITE)
    make_experiment(adapter={"peft_type": "NOPE"}, params=tiny_params)
    pythonpath = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    quiet = cli(["run", EXP], cwd=tmp_path, PYTHONPATH=pythonpath)
    assert_clean_failure(quiet, tmp_path, "adapter_config.json", "NOPE")
    loud = cli(["-v", "run", EXP], cwd=tmp_path, PYTHONPATH=pythonpath)
    assert loud.returncode == 2 and "Traceback" not in loud.stderr
    assert all(f"NOISE-{i}" in loud.stderr for i in (1, 2, 3)), loud.stderr
    assert loud.stderr.strip().splitlines()[-1].startswith("error: ")
