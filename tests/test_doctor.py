"""`peftbench doctor` and `--version`; Hub checks against a loopback stand-in of the Hub's API."""

from __future__ import annotations

import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from typer.testing import CliRunner

from peftbench import __version__
from peftbench.system import doctor
from peftbench.cli import app
from peftbench.system.doctor import FAIL, OK, WARN, REFERENCE_MODELS

runner = CliRunner()
LLAMA, FLUX = REFERENCE_MODELS


class FakeHub(BaseHTTPRequestHandler):
    """The two Hub routes doctor uses: model info, and auth-check with the Hub's status codes and
    X-Error-Code header. Token "granted" may read both models, "pending" has not been granted FLUX."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        if not self.path.endswith("/auth-check"):
            return self._reply(200)
        repo = self.path.removeprefix("/api/models/").removesuffix("/auth-check")
        if repo not in REFERENCE_MODELS:
            return self._reply(404, "RepoNotFound")
        if not token:
            return self._reply(401, "GatedRepo")
        if token not in ("granted", "pending"):
            return self._reply(401)
        if token == "pending" and repo == FLUX:
            return self._reply(403, "GatedRepo")
        return self._reply(200)

    def _reply(self, status, code=None):
        self.send_response(status)
        if code:
            self.send_header("X-Error-Code", code)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch, tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{server.server_address[1]}")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # no saved login from the machine
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    yield server
    server.shutdown()
    server.server_close()


def test_gated_access_says_what_to_do_in_each_case(hub, monkeypatch):
    assert doctor.check_hub().status == OK
    anonymous = doctor.check_gated(LLAMA, reachable=True)
    assert anonymous.status == FAIL and "hf auth login" in anonymous.fix and f"/{LLAMA}" in anonymous.fix
    assert doctor.check_token().status == FAIL
    monkeypatch.setenv("HF_TOKEN", "pending")
    assert doctor.check_token().status == OK
    assert doctor.check_gated(LLAMA, reachable=True).status == OK
    pending = doctor.check_gated(FLUX, reachable=True)
    assert pending.status == FAIL and "not been granted" in pending.detail and "request access" in pending.fix
    monkeypatch.setenv("HF_TOKEN", "expired")
    assert "rejected" in doctor.check_gated(LLAMA, reachable=True).detail
    assert "check the model id" in doctor.check_gated("someone/else", reachable=True).fix


def test_saved_login_is_found(hub, tmp_path):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "token").write_text("granted\n")
    assert doctor.hub_token() == "granted"
    assert doctor.check_gated(FLUX, reachable=True).status == OK


def test_no_hub_fails_fast_with_the_fix(monkeypatch):
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    refused = doctor.check_hub(timeout=1)
    assert refused.status == FAIL and "HF_HUB_OFFLINE=1" in refused.fix
    with socket.socket() as silent:  # accepts connections, never answers: the timeout must hold
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{silent.getsockname()[1]}")
        start = time.perf_counter()
        hung = doctor.check_hub(timeout=0.5)
        assert hung.status == FAIL and "within" in hung.detail and time.perf_counter() - start < 3
    assert doctor.check_gated(LLAMA, reachable=False).status == FAIL


def test_offline_mode_is_a_warning(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    assert doctor.check_hub().status == WARN


def test_torch_findings_come_with_fixes(monkeypatch):
    missing = doctor.check_torch(None)
    assert missing.status == FAIL and missing.fix == "pip install 'peftbench[train]'"
    broken = doctor.check_torch({"error": "OSError: libcudart.so.12: cannot open"})
    assert broken.status == FAIL and "pytorch.org" in broken.fix
    cpu = {"version": "2.13.0+cpu", "cuda": None, "hip": None, "cuda_ok": False, "devices": [], "mps": False, "threads": 2}
    monkeypatch.setattr(doctor.shutil, "which", lambda name: "/usr/bin/nvidia-smi")
    assert doctor.check_torch(cpu).status == WARN and "CUDA build" in doctor.check_torch(cpu).fix
    gpu = {**cpu, "cuda": "13.0", "devices": [["NVIDIA H100", 80 * 2**30]]}
    assert doctor.check_accelerators(gpu).detail == "1 GPU(s): NVIDIA H100 (80 GiB)"
    monkeypatch.setattr(doctor.shutil, "which", lambda name: None)
    assert doctor.check_torch(cpu).status == OK


def test_lock_check_warns_when_packages_left_the_lock(monkeypatch):
    from peftbench.system import environment

    for info, status in [("unlocked", OK), ("locks/all.txt sha256:0123456789abcdef", OK),
                         ("unlocked: locks/all.txt sha256:0123456789abcdef changed since: numpy 9 (locked 2)", WARN)]:
        monkeypatch.setattr(environment, "lock_info", lambda info=info: info)
        check = doctor.check_lock()
        assert check.status == status and info.split(":")[0] in check.detail
    assert "setup.sh" in check.fix


def test_folders_report_space_and_writability(tmp_path):
    assert doctor.check_folder("cache (X)", tmp_path / "new" / "cache", min_free_gb=0).status == OK
    low = doctor.check_folder("cache (X)", tmp_path, min_free_gb=10**9)
    assert low.status == WARN and "larger disk" in low.fix


def test_doctor_command_end_to_end(hub, monkeypatch, tmp_path):
    monkeypatch.setenv("HF_TOKEN", "granted")
    monkeypatch.setenv("PEFTBENCH_CACHE", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    probes = []  # the real torch probe (a child process importing torch) once, then its answer again
    real_probe = doctor._torch_probe
    monkeypatch.setattr(doctor, "_torch_probe", lambda: probes[0] if probes else probes.append(real_probe()) or probes[0])
    result = runner.invoke(app, ["doctor", "--timeout", "2"])
    assert "access meta-llama/Llama-3.2-3B" in result.output and "torch" in result.output
    assert result.exit_code == 0 and "ready" in result.output, result.output
    monkeypatch.setenv("HF_TOKEN", "pending")
    result = runner.invoke(app, ["doctor", "--timeout", "2"])
    assert result.exit_code == 1 and "1 check(s) failed: access black-forest-labs/FLUX.2-klein-base-4B" in result.output


def test_fixes_print_verbatim(monkeypatch):
    # A fix holds brackets ('peftbench[train]') that the terminal table must not take for markup.
    monkeypatch.setattr(doctor, "run_checks", lambda timeout: [doctor.check_torch(None)])
    result = runner.invoke(app, ["doctor"], terminal_width=200)
    assert "pip install 'peftbench[train]'" in result.output and result.exit_code == 1


def test_version():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"peftbench {__version__}"
