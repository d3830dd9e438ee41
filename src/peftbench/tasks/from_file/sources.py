"""Load a task file's data with `datasets` (which caches it): files, or a Hub dataset / dataset folder.

Splits the source lacks are carved out of train by a fixed-seed shuffle of row indices (Python's own
`random`, so the assignment does not change with the `datasets` version).
"""

from __future__ import annotations

import codecs
import hashlib
import random
from pathlib import Path

from peftbench.errors import UserError
from peftbench.tasks.from_file.spec import FORMATS, CorpusSpec, DataSpec, SplitRule, format_of

TEXT_FORMATS = {"json", "csv"}  # builders of FORMATS that read text (parquet is binary)


def is_url(path: str) -> bool:
    return path.startswith(("http://", "https://", "hf://"))


def resolve_files(files: list[str], base: Path, key: str) -> list[str]:
    """Paths relative to the task file's folder; URLs as they are. A missing, empty or (for a text
    format) not strictly UTF-8 local file is a UserError naming it."""
    resolved = []
    for item in files:
        if is_url(item):
            resolved.append(item)
            continue
        path = (base / item).expanduser()
        if not path.is_file():
            raise UserError(f"{key}: file not found: {path}")
        check_file(path, key)
        resolved.append(str(path.resolve()))
    return resolved


def check_file(path: Path, key: str) -> None:
    """An empty file, or bytes that are not UTF-8 in a text file (.jsonl, .json, .csv), named with the
    line and byte: `datasets` would report the first as "no data" and the second only mid-run."""
    if path.stat().st_size == 0:
        raise UserError(f"{key}: {path} is empty")
    if FORMATS.get(path.suffix.lower()) not in TEXT_FORMATS:
        return
    decoder = codecs.getincrementaldecoder("utf-8")()
    line, offset = 1, 0
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                at = max(err.start, 0)
                line += chunk[:at].count(b"\n")
                raise UserError(f"{key}: {path}: not UTF-8 text at line {line} (byte {offset + at}: "
                                f"0x{chunk[at:at + 1].hex()})") from None
            line += chunk.count(b"\n")
            offset += len(chunk)
    try:
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        raise UserError(f"{key}: {path}: not UTF-8 text: it ends inside a multi-byte character") from None


def local_dataset(name: str, base: Path) -> str:
    """A dataset folder relative to the task file wins over a Hub id of the same spelling."""
    candidate = (base / name).expanduser()
    return str(candidate.resolve()) if candidate.is_dir() else name


def _first_line(err: Exception) -> str:
    return (str(err).strip().splitlines() or [type(err).__name__])[0]


def _datasets():
    """The `datasets` module, without its per-split progress bars (peftbench draws its own)."""
    import datasets

    from peftbench.system import logs

    datasets.disable_progress_bars()
    datasets.logging.set_verbosity(logs.library_level())
    return datasets


def load_source(spec: DataSpec, base: Path, where: str) -> dict:
    """{our split: datasets.Dataset} for the splits the source has (carving comes later)."""
    load_dataset = _datasets().load_dataset

    try:
        if spec.files is not None:
            data_files = {split: resolve_files(files, base, f"{where}: data.files")
                          for split, files in spec.source_splits().items()}
            loaded = load_dataset(spec.file_format(), data_files=data_files)
            return {split: loaded[split] for split in data_files}
        path = local_dataset(spec.dataset, base)
        return {ours: load_dataset(path, spec.config, revision=spec.revision, split=theirs)
                for ours, theirs in spec.source_splits().items()}
    except UserError:
        raise
    except ValueError as err:
        raise UserError(f"{where}: data: {_first_line(err)}") from None
    except Exception as err:  # datasets raises many types for a missing dataset, a bad file or no network
        raise UserError(f"{where}: data: cannot load {spec.dataset or 'files'}: {_first_line(err)}") from None


def _count(size: int | float, total: int) -> int:
    return size if isinstance(size, int) else round(size * total)


def carve(splits: dict, rule: SplitRule | None, where: str) -> dict:
    """Move `rule.test` then `rule.valid` rows of a fixed shuffle of train into their own splits."""
    if rule is None:
        return dict(splits)
    train = splits["train"]
    order = list(range(len(train)))
    random.Random(rule.seed).shuffle(order)
    out, start = dict(splits), 0
    for name in ("test", "valid"):
        size = getattr(rule, name)
        if size is None:
            continue
        n = _count(size, len(train))
        if n < 1 or start + n >= len(train):
            raise UserError(f"{where}: data.split.{name}: {size} leaves no rows to train on "
                            f"(train has {len(train)} rows, {start} already carved)")
        out[name] = train.select(order[start : start + n])
        start += n
    out["train"] = train.select(sorted(order[start:]))  # file order, so the first N rows stay stable
    return out


def load_splits(spec: DataSpec, base: Path, where: str) -> dict:
    """train/valid/test as datasets.Dataset objects, each with at least one row."""
    splits = carve(load_source(spec, base, where), spec.split, where)
    for name, ds in splits.items():
        if len(ds) == 0:
            raise UserError(f"{where}: data: the {name} split has no rows")
    return splits


def file_digest(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def source_identity(spec: DataSpec | CorpusSpec, base: Path) -> dict:
    """What identifies the data in meta_info and the task's fingerprint: file hashes, or the dataset,
    config and revision (the Hub's resolved commit when it can be asked, else what the file says)."""
    if spec.files is not None:
        files = spec.source_splits() if isinstance(spec, DataSpec) else {"corpus": _as_list(spec.files)}
        out = {}
        for split, items in files.items():
            out[split] = [{"url": f} if is_url(f) else {"path": f, "sha256": file_digest(f)}
                          for f in resolve_files(items, base, "data.files")]
        return {"files": out}
    path = local_dataset(spec.dataset, base)
    info = {"dataset": spec.dataset, "config": spec.config, "revision": spec.revision}
    if Path(path).is_dir():
        info["local_path"] = path
    else:
        info["resolved_revision"] = _hub_revision(spec.dataset, spec.revision)
    return info


def _as_list(files: str | list[str]) -> list[str]:
    return files if isinstance(files, list) else [files]


def _hub_revision(dataset: str, revision: str | None) -> str | None:
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(dataset, revision=revision).sha
    except Exception:  # offline or not on the Hub: the identity is still what the task file says
        return None


def load_corpus(spec: CorpusSpec, base: Path, n: int, where: str) -> list[str]:
    """The first `n` texts of the forgetting corpus."""
    load_dataset = _datasets().load_dataset

    try:
        if spec.files is not None:
            files = resolve_files(_as_list(spec.files), base, f"{where}: forgetting.files")
            ds = load_dataset(format_of(files, spec.format), data_files={"train": files}, split="train")
        else:
            ds = load_dataset(local_dataset(spec.dataset, base), spec.config, revision=spec.revision, split=spec.split)
    except UserError:
        raise
    except Exception as err:
        raise UserError(f"{where}: forgetting: cannot load {spec.dataset or 'files'}: {_first_line(err)}") from None
    if spec.column not in ds.column_names:
        raise UserError(f"{where}: forgetting.column: '{spec.column}' is not a column "
                        f"(columns: {', '.join(ds.column_names)})")
    if len(ds) < n:
        raise UserError(f"{where}: forgetting: asked for {n} texts (data.forgetting_size) but the corpus has {len(ds)}")
    return [str(text) for text in ds.select(range(n))[spec.column]]

