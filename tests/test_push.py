"""`peftbench push`: real huggingface_hub uploads (create_repo, preupload, LFS basic transfer, commit)
against the loopback Hub stand-in, and one-line errors (exit 2) for what a user can fix."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from hub_standin import FakeHub, point_hub_at
from peftbench.records.record import parse_record
from peftbench.adapters.saved import save_adapter

TOKEN = "hf_alice_write"


def record():
    final = {"step": 2, "test accuracy": 0.25, "forgetting": 0.01, "drift": 0.002}
    data = {"run_info": {"task": "minimath", "experiment_name": "lora/t", "seed": 0, "peftbench_version": "0.1.0",
                         "config_hash": "0123456789abcdef", "train_config": {"max_steps": 2},
                         "peft_config": {"peft_type": "LORA", "target_modules": ["q_proj", "v_proj"]}},
            "train_info": {"status": "success", "metrics": [final], "train_time": 1.0, "file_size": 1},
            "meta_info": {"model_info": {"model_id": "embedded:SmolLM2-135M-Instruct"}}}
    return parse_record(data, "test record")


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A kept LoRA adapter of a small random Llama, as save_adapter writes it."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import LlamaConfig, LlamaForCausalLM

    torch.manual_seed(0)
    base = LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1))
    model = get_peft_model(base, LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False))
    return save_adapter(model, tmp_path_factory.mktemp("results") / "lora--t.adapter", record())


@pytest.fixture
def hub(tmp_path, monkeypatch):
    from huggingface_hub import constants

    with FakeHub(tokens={TOKEN: "alice"}, orgs={"peft-lab": {"alice"}}) as server:
        point_hub_at(monkeypatch, server.url, tmp_path / "hub-cache")
        # Xet uploads need the Hub's CAS service, which the stand-in does not implement: the LFS basic
        # transfer (what huggingface_hub uses without hf_xet) carries the weights instead.
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        monkeypatch.delenv("HF_TOKEN", raising=False)
        monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
        yield server


def push(*args: str):
    from peftbench.cli import app

    return CliRunner().invoke(app, ["push", *map(str, args)])


def test_push_uploads_every_file_and_creates_the_repo(kept, hub):
    result = push(kept, "--repo-id", "peft-lab/smollm2-lora", "--private", "--token", TOKEN)
    assert result.exit_code == 0, result.output
    repo = hub.repos[("model", "peft-lab/smollm2-lora")]
    assert repo.private and repo.commits == ["peftbench: lora/t on minimath"]
    local = {p.name: p.read_bytes() for p in kept.iterdir()}
    assert repo.files == local
    assert repo.lfs_paths == {"adapter_model.safetensors"}  # the weights went through LFS, the rest inline
    assert f"{hub.url}/peft-lab/smollm2-lora/commit/" in result.output

    again = push(kept, "--repo-id", "peft-lab/smollm2-lora", "--token", TOKEN)  # repo exists: a new commit
    assert again.exit_code == 0, again.output
    assert len(repo.commits) == 2


def test_pushed_adapter_loads_back_from_the_hub(kept, hub):
    import torch
    from peft import PeftModel
    from transformers import LlamaConfig, LlamaForCausalLM

    assert push(kept, "--repo-id", "alice/lora", "--token", TOKEN).exit_code == 0
    base = LlamaForCausalLM(LlamaConfig(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                        num_attention_heads=2, num_key_value_heads=1))
    from_hub = PeftModel.from_pretrained(base, "alice/lora")
    from_disk = PeftModel.from_pretrained(base, str(kept))
    ids = torch.tensor([[1, 2, 3]])
    with torch.no_grad():
        assert torch.equal(from_hub(input_ids=ids).logits, from_disk(input_ids=ids).logits)
    assert any(r.startswith("GET /alice/lora/resolve/main/adapter_model.safetensors") for r in hub.requests)


def one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:") and "Traceback" not in result.output
    return lines[0]


def test_no_token(kept, hub):
    assert "no Hub token: pass --token, set HF_TOKEN, or run `hf auth login`" in one_line_error(push(kept, "--repo-id", "alice/x"))
    assert hub.requests == []


def test_wrong_token_and_foreign_namespace(kept, hub):
    assert "rejected the token (401)" in one_line_error(push(kept, "--repo-id", "alice/x", "--token", "hf_wrong"))
    message = one_line_error(push(kept, "--repo-id", "bob/x", "--token", TOKEN))
    assert "no write access (403)" in message and 'namespace "bob"' in message
    assert ("model", "bob/x") not in hub.repos


def test_name_held_by_another_repo_type(kept, hub):
    hub.taken["alice/shared-name"] = "dataset"
    message = one_line_error(push(kept, "--repo-id", "alice/shared-name", "--token", TOKEN))
    assert "no model repository alice/shared-name you can write to" in message


def test_network_down(kept, tmp_path, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}"
    point_hub_at(monkeypatch, closed, tmp_path / "cache")
    assert f"cannot reach the Hub at {closed}" in one_line_error(push(kept, "--repo-id", "alice/x", "--token", TOKEN))


def test_bad_folder_repo_id_and_offline(kept, tmp_path, hub, monkeypatch):
    from huggingface_hub import constants

    assert "not a kept adapter" in one_line_error(push(tmp_path, "--repo-id", "alice/x", "--token", TOKEN))
    assert "no such folder" in one_line_error(push(tmp_path / "nope", "--repo-id", "alice/x", "--token", TOKEN))
    assert "--repo-id 'alice/x/y'" in one_line_error(push(kept, "--repo-id", "alice/x/y", "--token", TOKEN))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert "HF_HUB_OFFLINE=1 is set" in one_line_error(push(kept, "--repo-id", "alice/x", "--token", TOKEN))
    assert hub.requests == []


def test_command_line_with_hf_endpoint(kept, tmp_path):
    """The installed command as a user runs it: HF_ENDPOINT and HF_TOKEN from the environment."""
    with FakeHub(tokens={TOKEN: "alice"}) as server:
        env = {**os.environ, "HF_ENDPOINT": server.url, "HF_TOKEN": TOKEN, "HF_HUB_DISABLE_XET": "1",
               "HF_HOME": str(tmp_path / "hf-home")}
        done = subprocess.run([sys.executable, "-m", "peftbench", "push", str(kept), "--repo-id", "alice/cli"],
                              capture_output=True, text=True, env=env, timeout=120)
        assert done.returncode == 0, done.stderr
        assert server.repos[("model", "alice/cli")].files.keys() == {p.name for p in kept.iterdir()}
        env.pop("HF_TOKEN")
        failed = subprocess.run([sys.executable, "-m", "peftbench", "push", str(kept), "--repo-id", "alice/cli"],
                                capture_output=True, text=True, env=env, timeout=120)
        assert failed.returncode == 2 and failed.stderr.strip().startswith("error: push: no Hub token")
        assert len(failed.stderr.strip().splitlines()) == 1
