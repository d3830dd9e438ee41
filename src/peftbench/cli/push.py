"""`peftbench push ADAPTER_DIR --repo-id ORG/NAME`: share a kept adapter (or model) on the Hugging Face Hub.

Real huggingface_hub calls (create_repo, then upload_folder: preupload, LFS or Xet upload, commit);
HF_ENDPOINT points them at another Hub. Every failure is one line and exit code 2.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.text import Text

from peftbench.cli.common import console, user_errors
from peftbench.errors import UserError
from peftbench.adapters.saved import RECORD_FILE

# What save_adapter writes: a card, and the adapter's config (or, for full fine-tuning, the model's).
CARD = "README.md"
WEIGHT_CONFIGS = ("adapter_config.json", "config.json")


def push(
    adapter_dir: Path = typer.Argument(..., help="A kept adapter: results/<task>/<method>--<name>.adapter/ (written with --save-adapter)."),
    repo_id: str = typer.Option(..., "--repo-id", help="Hub repository ORG/NAME (or USER/NAME); created if it does not exist."),
    private: bool = typer.Option(False, "--private", help="Create the repository private (an existing one keeps its visibility)."),
    token: Optional[str] = typer.Option(None, "--token", help="Hub token with write access; default: HF_TOKEN, else the one `hf auth login` saved."),
) -> None:
    """Upload a kept adapter (its weights, model card and result record) to a model repository on the Hub."""
    with user_errors():
        url = push_folder(adapter_dir, repo_id, private=private, token=token)
    console.print(Text(f"pushed {adapter_dir} -> {url}"))


def check_folder(folder: Path) -> None:
    if not folder.is_dir():
        raise UserError(f"{folder}: no such folder (expected results/<task>/<method>--<name>.adapter/)")
    if not (folder / CARD).is_file() or not any((folder / name).is_file() for name in WEIGHT_CONFIGS):
        raise UserError(f"{folder}: not a kept adapter (expected {CARD} and adapter_config.json or config.json, "
                        "as --save-adapter writes them)")


def check_repo_id(repo_id: str) -> None:
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise UserError(f"--repo-id '{repo_id}': {str(err).splitlines()[0]}") from None
    if repo_id.count("/") != 1:
        raise UserError(f"--repo-id '{repo_id}': expected ORG/NAME or USER/NAME")


def resolve_token(token: str | None) -> str:
    from huggingface_hub import constants, get_token

    if constants.HF_HUB_OFFLINE:
        raise UserError("push: HF_HUB_OFFLINE=1 is set; unset it to upload")
    token = token or get_token()
    if not token:
        raise UserError("push: no Hub token: pass --token, set HF_TOKEN, or run `hf auth login`")
    return token


def push_folder(folder: Path | str, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Create `repo_id` (a model repository) if needed and upload `folder` as one commit; returns the
    commit's URL. UserError for every failure a user can act on."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    check_folder(folder)
    check_repo_id(repo_id)
    api = HfApi(token=resolve_token(token))
    try:
        api.create_repo(repo_id, repo_type="model", private=private, exist_ok=True)
        commit = api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="model",
                                   commit_message=_commit_message(folder))
    except Exception as err:  # the Hub's HTTP errors, and the HTTP client's network errors
        raise _push_error(err, repo_id, api.endpoint) from None
    return commit.commit_url


def _commit_message(folder: Path) -> str:
    from peftbench.records.record import read_record_or_none

    record = read_record_or_none(folder / RECORD_FILE)  # the record copy is not required for an upload
    info = record.run_info if record is not None else None
    if info is None or info.experiment_name is None or info.task is None:
        return "peftbench: upload adapter"
    return f"peftbench: {info.experiment_name} on {info.task}"


def _is_network_error(err: BaseException) -> bool:
    # huggingface_hub's HTTP client (httpx, or its httpx2 fork) raises TransportError subclasses.
    names = {cls.__name__ for cls in type(err).__mro__}
    return bool(names & {"TransportError", "ConnectionError", "ConnectError", "TimeoutException"}) or isinstance(err, OSError)


def _push_error(err: Exception, repo_id: str, endpoint: str) -> UserError:
    from huggingface_hub.errors import HfHubHTTPError, RepositoryNotFoundError

    where = f"push to {repo_id}"
    if isinstance(err, RepositoryNotFoundError):
        return UserError(f"{where}: the Hub has no model repository {repo_id} you can write to "
                         "(is the name taken by a dataset or Space, or is it someone else's?)")
    if isinstance(err, HfHubHTTPError):
        status = err.response.status_code if err.response is not None else None
        detail = (err.server_message or str(err)).strip().splitlines()
        detail = detail[0] if detail else ""
        if status == 401:
            return UserError(f"{where}: the Hub rejected the token (401): check --token or HF_TOKEN")
        if status == 403:
            return UserError(f"{where}: no write access (403): {detail}")
        return UserError(f"{where}: the Hub answered {status}: {detail}")
    if _is_network_error(err):
        return UserError(f"{where}: cannot reach the Hub at {endpoint}: {str(err).splitlines()[0] if str(err) else type(err).__name__}")
    return UserError(f"{where}: {type(err).__name__}: {(str(err).splitlines() or [''])[0]}")
