"""Task files: YAML validation (one line naming file and key), data loading with `datasets` (files,
split rules, a dataset folder and a file served on loopback standing in for the Hub), templates,
scorers and the chat template. No model is trained here (test_task_file_run.py does that)."""

from __future__ import annotations

import functools
import http.server
import json
import shutil
import threading
from pathlib import Path

import pytest
import yaml

from peftbench.planning.config import TrainConfig, build_config
from peftbench.errors import UserError
from peftbench.tasks.from_file import load_task_file, scorer

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "unit-conversion" / "task.yaml"
ROWS = [{"q": f"What is {i} plus {i}?", "a": str(2 * i), "why": f"{i} + {i} = {2 * i}."} for i in range(1, 41)]
BASIC = {
    "data": {"files": "rows.jsonl", "split": {"valid": 5, "test": 0.25, "seed": 3}},
    "prompt": "Q: {q}\nA:",
    "target": "{why} The answer is {a}.",
    "gold": "{a}",
    "scorer": "numeric",
}
ALL_SPLITS = {"files": {"train": "rows.jsonl", "valid": "rows.jsonl", "test": "rows.jsonl"}}


@pytest.fixture(autouse=True)
def _datasets_cache(tmp_path_factory, monkeypatch):
    """`datasets` writes its Arrow cache here, not in the user's ~/.cache/huggingface."""
    import datasets

    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path_factory.getbasetemp() / "hf-datasets")


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def make_task(folder: Path, spec: dict, rows: list[dict] | None = ROWS, name: str = "task.yaml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    if rows is not None:
        write_jsonl(folder / "rows.jsonl", rows)
    path = folder / name
    path.write_text(yaml.safe_dump(spec, sort_keys=False))
    return path


def config(task, **overrides):
    return build_config(task.defaults, overrides, "test", TrainConfig)


def error_of(path: Path, **kwargs) -> str:
    with pytest.raises(UserError) as err:
        load_task_file(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message and str(path) in message
    return message


# --- the example ---------------------------------------------------------------------------------

def test_example_task_loads_with_its_defaults():
    task = load_task_file(EXAMPLE)
    assert task.name == "unit-conversion"
    cfg = config(task)
    assert cfg.max_steps == 60 and cfg.generation_kwargs.max_new_tokens == 40
    assert cfg.optimizer_kwargs == {"lr": 2e-3, "weight_decay": 0.0}  # deep merge kept the text default
    train, valid, test = task.train_examples(cfg), task.valid_examples(cfg), task.test_sets(cfg)[0].examples
    assert (len(train), len(valid), len(test)) == (400, 32, 100)
    assert train[0].question.startswith("Convert ") and train[0].question.endswith("\nAnswer:")
    assert train[0].target.endswith(f"The answer is {train[0].gold}.")
    questions = [{e.question for e in split} for split in (train, valid, test)]
    assert not (questions[0] & questions[2]) and not (questions[1] & questions[2])
    assert task.score("so 60 / 12 = 5 years. The answer is 5.", "5").correct


def test_example_data_is_what_the_script_writes(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(EXAMPLE.parent, folder, ignore=shutil.ignore_patterns("*.jsonl"))
    import runpy

    runpy.run_path(str(folder / "make_data.py"), run_name="__main__")
    for split in ("train", "valid", "test"):
        assert (folder / f"{split}.jsonl").read_bytes() == (EXAMPLE.parent / f"{split}.jsonl").read_bytes()


# --- validation: one line naming file and key ------------------------------------------------------

@pytest.mark.parametrize("change, expected", [
    ({"promt": "x"}, "unknown key 'promt'"),
    ({"scorer": None}, "scorer"),
    ({"scorer": "fuzzy"}, "scorer.type"),
    ({"scorer": {"type": "regex"}}, "'pattern' is required"),
    ({"scorer": {"type": "regex", "pattern": "(unclosed"}}, "not a valid regular expression"),
    ({"scorer": {"type": "exact", "pattern": "x"}}, "'pattern' does not apply"),
    ({"data": {"files": "rows.jsonl", "dataset": "a/b", "split": {"valid": 2, "test": 2}}}, "exactly one of 'files' or 'dataset'"),
    ({"data": {"files": "rows.jsonl", "split": {"valid": 2}}}, "no test split"),
    ({"data": {"files": {"train": "rows.jsonl", "test": "rows.jsonl"}, "split": {"valid": 2, "test": 3}}}, "both given and carved"),
    ({"data": {"files": "rows.jsonl", "split": {"valid": 2, "test": 1.5}}}, "data.split.test"),
    ({"data": {"files": "rows.txt", "split": {"valid": 2, "test": 2}}}, "cannot tell one format"),
    ({"prompt": "Q: {} A:"}, "prompt.template"),
    ({"prompt": "Q: {q.upper} A:"}, "must be a column name"),
    ({"prompt": {"template": "{q}", "system": "Be brief."}}, "'system' needs 'chat_template: true'"),
    ({"target": None, "gold": None}, "give 'target'"),
    ({"name": "a/b"}, "name"),
    ({"forgetting": "wikipedia"}, "forgetting"),
    ({"training": {"batsh_size": 4}}, "training: unknown training parameter 'batsh_size'"),
    ({"training": {"max_steps": 0}}, "'max_steps'"),
    ({"training": {"data": {"gsm8k_test_size": 5}}}, "'data.gsm8k_test_size'"),
    ({"training": {"query_template": "{query}"}}, "set by 'prompt'"),
])
def test_spec_mistakes_are_one_line_naming_the_key(tmp_path, change, expected):
    spec = {k: v for k, v in {**BASIC, **change}.items() if v is not None}
    assert expected in error_of(make_task(tmp_path, spec), load_data=False)


def test_malformed_yaml_names_line(tmp_path):
    path = tmp_path / "task.yaml"
    path.write_text("data:\n  files: [a.jsonl\nprompt: x\n")
    assert "malformed YAML at line" in error_of(path)
    path.write_text("- just\n- a list\n")
    assert "expected a mapping" in error_of(path)
    assert "task file not found" in error_of(tmp_path / "missing.yaml")


@pytest.mark.parametrize("change, rows, expected", [
    ({"data": {"files": "nope.jsonl", "split": {"valid": 2, "test": 2}}}, ROWS, "data.files: file not found"),
    ({"prompt": "Q: {question}\nA:"}, ROWS, "prompt.template: placeholder {question} is not a column of the train split (columns: q, a, why)"),
    ({"columns": {"question": "query"}}, ROWS, "columns.question: 'query' is not a column"),
    ({}, ROWS[:2] + [{**ROWS[2], "a": "many"}] + ROWS[3:], "row"),
    ({}, ROWS[:2] + [{**ROWS[2], "a": None}] + ROWS[3:], "column 'a' is empty"),
    ({"data": {"files": "rows.jsonl", "split": {"valid": 20, "test": 20}}}, ROWS, "leaves no rows to train on"),
])
def test_data_mistakes_name_the_key(tmp_path, change, rows, expected):
    task = load_task_file(make_task(tmp_path, {**BASIC, **change}, rows), load_data=False)
    with pytest.raises(UserError) as err:
        cfg = config(task)
        for split in ("train", "valid"):
            task._examples(split, cfg, None)
        task.test_sets(cfg)
    assert expected in str(err.value) and "\n" not in str(err.value)


def test_gold_that_is_not_a_number_names_the_row(tmp_path):
    rows = ROWS[:2] + [{**ROWS[2], "a": "many"}] + ROWS[3:]
    spec = {**BASIC, "data": ALL_SPLITS}
    task = load_task_file(make_task(tmp_path, spec, rows))
    with pytest.raises(UserError, match=r"train row 3: gold: 'many' is not a number \(scorer numeric\)"):
        task.train_examples(config(task))


# --- data -----------------------------------------------------------------------------------------

def test_split_rule_is_fixed_disjoint_and_complete(tmp_path):
    path = make_task(tmp_path, BASIC)
    first = load_task_file(path)
    second = load_task_file(path)
    cfg = config(first)
    splits = [{name: [e.id for e in getattr(t, f"{name}_examples")(cfg)] for name in ("train", "valid")} for t in (first, second)]
    for t, s in zip((first, second), splits):
        s["test"] = [e.id for e in t.test_sets(cfg)[0].examples]
    assert splits[0] == splits[1]
    sizes = {k: len(v) for k, v in splits[0].items()}
    assert sizes == {"train": 25, "valid": 5, "test": 10}  # 0.25 of 40 rows, then 5, the rest trains
    all_ids = [i for ids in splits[0].values() for i in ids]
    assert len(set(all_ids)) == 40
    reseeded = make_task(tmp_path / "other", {**BASIC, "data": {**BASIC["data"], "split": {"valid": 5, "test": 0.25, "seed": 4}}})
    task = load_task_file(reseeded)
    assert [e.id for e in task.test_sets(cfg)[0].examples] != splits[0]["test"]


def test_sizes_cap_the_splits(tmp_path):
    task = load_task_file(make_task(tmp_path, BASIC))
    cfg = config(task, data={"train_size": 7, "valid_size": 2, "test_size": 3})
    assert len(task.train_examples(cfg)) == 7 and len(task.valid_examples(cfg)) == 2
    assert len(task.test_sets(cfg)[0].examples) == 3
    assert task.dataset_info(cfg)["used"] == {"train": 7, "valid": 2, "test": 3}


def test_csv_and_parquet_with_column_map(tmp_path):
    import pandas as pd

    frame = pd.DataFrame([{"Question": r["q"], "Answer": int(r["a"])} for r in ROWS])
    for name, write in (("rows.csv", lambda p: frame.to_csv(p, index=False)), ("rows.parquet", frame.to_parquet)):
        folder = tmp_path / name.split(".")[1]
        folder.mkdir()
        write(folder / name)
        spec = {**BASIC, "data": {"files": name, "split": {"valid": 2, "test": 4}},
                "columns": {"question": "Question", "answer": "Answer"},
                "prompt": "Q: {question}\nA:", "target": "The answer is {answer}.", "gold": "{answer}"}
        task = load_task_file(make_task(folder, spec, rows=None))
        example = task.train_examples(config(task))[0]
        assert example.question.startswith("Q: What is") and example.gold == str(int(example.target.split()[-1][:-1]))


def test_dataset_folder_with_config_stands_in_for_a_hub_dataset(tmp_path):
    """`dataset:` goes through load_dataset(path, config, revision=..., split=...) as a Hub id does."""
    standin = tmp_path / "standin"
    for config_name in ("easy", "hard"):
        (standin / config_name).mkdir(parents=True)
        for split in ("train", "test"):
            write_jsonl(standin / config_name / f"{split}.jsonl",
                        [{**r, "q": f"[{config_name}] {r['q']}"} for r in ROWS[:20]])
    card = {"configs": [{"config_name": c, "data_files": [{"split": s, "path": f"{c}/{s}.jsonl"} for s in ("train", "test")]}
                        for c in ("easy", "hard")]}
    (standin / "README.md").write_text("---\n" + yaml.safe_dump(card) + "---\n")
    spec = {**BASIC, "data": {"dataset": "standin", "config": "hard", "revision": "main",
                              "splits": {"train": "train", "test": "test"}, "split": {"valid": 4}}}
    task = load_task_file(make_task(tmp_path, spec, rows=None))
    cfg = config(task)
    assert task.test_sets(cfg)[0].examples[0].question.startswith("Q: [hard]")
    assert len(task.train_examples(cfg)) == 16 and len(task.valid_examples(cfg)) == 4
    info = task.dataset_info(cfg)["source"]
    assert info["config"] == "hard" and info["local_path"] == str(standin)
    bad = make_task(tmp_path / "bad", {**spec, "data": {**spec["data"], "dataset": str(standin), "config": "medium"}}, rows=None)
    assert "data: BuilderConfig 'medium' not found" in error_of(bad)


def test_hub_dataset_offline_is_one_line(tmp_path, monkeypatch):
    import datasets

    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    spec = {**BASIC, "data": {"dataset": "nobody/no-such-dataset", "splits": {"train": "train", "test": "test"}, "split": {"valid": 2}}}
    assert "data: cannot load nobody/no-such-dataset" in error_of(make_task(tmp_path, spec, rows=None))


@pytest.fixture
def served(tmp_path):
    """A folder served over HTTP on loopback, for data files given as URLs; stopped after the test."""
    folder = tmp_path / "served"
    folder.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield folder, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_files_by_url_are_downloaded_and_cached(tmp_path, served):
    folder, url = served
    write_jsonl(folder / "train.jsonl", ROWS[:30])
    write_jsonl(folder / "test.jsonl", ROWS[30:])
    write_jsonl(folder / "corpus.jsonl", [{"text": f"Some general text number {i}."} for i in range(5)])
    spec = {**BASIC, "data": {"files": {"train": f"{url}/train.jsonl", "test": f"{url}/test.jsonl"}, "split": {"valid": 3}},
            "forgetting": {"files": f"{url}/corpus.jsonl"}}
    task = load_task_file(make_task(tmp_path / "task", spec, rows=None))
    cfg = config(task, data={"forgetting_size": 4})
    assert len(task.test_sets(cfg)[0].examples) == 10 and len(task.train_examples(cfg)) == 27
    texts, info = task.forgetting_texts(cfg)
    assert texts == [f"Some general text number {i}." for i in range(4)] and info["n_texts"] == 4
    assert task.dataset_info(cfg)["source"]["files"]["test"] == [{"url": f"{url}/test.jsonl"}]


def test_forgetting_defaults_to_pydoc_and_checks_its_corpus(tmp_path):
    task = load_task_file(make_task(tmp_path, BASIC))
    texts, info = task.forgetting_texts(config(task))
    assert info["source"] == "pydoc_data.topics" and len(texts) == 16
    write_jsonl(tmp_path / "corpus.jsonl", [{"body": "x"}])
    spec = {**BASIC, "forgetting": {"files": "corpus.jsonl", "column": "body"}}
    task = load_task_file(make_task(tmp_path / "c", spec))
    (tmp_path / "c" / "corpus.jsonl").write_text('{"body": "only one text"}\n')
    with pytest.raises(UserError, match="asked for 16 texts"):
        task.forgetting_texts(config(task))


# --- scorers --------------------------------------------------------------------------------------

def scorer_task(tmp_path, scorer_spec, rows=ROWS, **spec):
    full = {**BASIC, "scorer": scorer_spec, **spec}
    task = load_task_file(make_task(tmp_path, full, rows))
    return task


def test_exact_match_normalises_and_stops_at_newline(tmp_path):
    task = scorer_task(tmp_path, "exact", target="{a}", gold=None)
    assert task.score("  The Paris!\nQuestion: next", "the paris").correct
    assert task.score("Paris, France", "Paris").correct is False
    articles = scorer_task(tmp_path / "a", {"type": "exact", "normalize": {"strip_articles": True}}, target="{a}", gold=None)
    assert articles.score("the Paris", "Paris").correct


def test_regex_scorer_uses_its_group(tmp_path):
    task = scorer_task(tmp_path, {"type": "regex", "pattern": r"answer:\s*(\w+)"}, gold="{a}")
    score = task.score("Let me think. answer: Blue\nmore", "blue")
    assert score.correct and score.extracted == "blue"
    assert task.score("no marker here", "blue").extracted is None


def test_multiple_choice(tmp_path):
    rows = [{"q": f"Pick {i}", "options": ["red", "green", "blue"], "right": i % 3} for i in range(20)]
    task = scorer_task(tmp_path, {"type": "choice", "choices": "options", "answer": "right"}, rows,
                       prompt="{q}\n{options}\nAnswer:", target=None, gold=None, data=ALL_SPLITS)
    by_question = {e.question.split("\n")[0]: e for e in task.train_examples(config(task))}
    example = by_question["Pick 1"]
    assert example.question == "Pick 1\nA. red\nB. green\nC. blue\nAnswer:"
    assert example.gold == "B" and example.target == "B"
    assert task.score("(B) because green", "B").correct
    assert task.score("Because it is C", "B").extracted == "C"
    text_answers = [{**r, "right": r["options"][r["right"]]} for r in rows]
    task = scorer_task(tmp_path / "t", {"type": "choice", "choices": "options", "answer": "right"}, text_answers,
                       prompt="{q}\n{options}\nAnswer:", target="The answer is {gold}.", gold=None, data=ALL_SPLITS)
    by_question = {e.question.split("\n")[0]: e for e in task.train_examples(config(task))}
    assert by_question["Pick 2"].target == "The answer is C." and by_question["Pick 2"].gold == "C"


def test_python_scorer_from_a_module_beside_the_task(tmp_path):
    (tmp_path / "my_scorers.py").write_text(
        "from peftbench.tasks.from_file import scorer\n\n"
        "@scorer('starts-with-gold')\n"
        "def starts(prediction, gold):\n"
        "    return prediction.strip().startswith(gold)\n")
    task = scorer_task(tmp_path, {"type": "python", "name": "starts-with-gold", "module": "my_scorers.py"})
    assert task.score("12 apples\nand more", "12").correct
    assert task.score("About 12", "12").correct is False
    bad = make_task(tmp_path / "b", {**BASIC, "scorer": {"type": "python", "name": "nope"}})
    assert "scorer.name: no scorer registered as 'nope'" in error_of(bad)


def test_registered_python_scorer_by_name(tmp_path):
    @scorer("test-length")
    def same_length(prediction, gold):
        return len(prediction.strip()) == len(gold)

    task = scorer_task(tmp_path, {"type": "python", "name": "test-length"})
    assert task.score("ab", "xy").correct and not task.score("abc", "xy").correct
    with pytest.raises(ValueError, match="already registered"):
        scorer("test-length")(lambda p, g: True)


# --- chat template --------------------------------------------------------------------------------

def test_chat_template_comes_from_the_model(tmp_path, tiny_model_dir):
    spec = {**BASIC, "prompt": {"template": "Q: {q}", "chat_template": True, "system": "Answer with a number."},
            "training": {"model_id": str(tiny_model_dir)}}
    task = load_task_file(make_task(tmp_path, spec))
    prompt = task.train_examples(config(task))[0].question
    assert prompt.startswith("<|im_start|>system\nAnswer with a number.<|im_end|>\n<|im_start|>user\nQ: What is")
    assert prompt.endswith("<|im_end|>\n<|im_start|>assistant\n")

    plain = tmp_path / "no-chat-model"
    shutil.copytree(tiny_model_dir, plain)
    (plain / "chat_template.jinja").unlink(missing_ok=True)
    config_file = plain / "tokenizer_config.json"
    config_file.write_text(json.dumps({k: v for k, v in json.loads(config_file.read_text()).items() if k != "chat_template"}))
    task = load_task_file(make_task(tmp_path / "plain", {**spec, "training": {"model_id": str(plain)}}))
    with pytest.raises(UserError, match="prompt.chat_template: model .* has no chat template"):
        task.train_examples(config(task))


def test_fingerprint_follows_content_not_location(tmp_path):
    first = load_task_file(make_task(tmp_path / "a", BASIC))
    moved = load_task_file(make_task(tmp_path / "b", BASIC))
    assert first.fingerprint() == moved.fingerprint()
    edited_rows = [{**ROWS[0], "why": "changed"}] + ROWS[1:]
    edited = load_task_file(make_task(tmp_path / "c", BASIC, edited_rows))
    reprompted = load_task_file(make_task(tmp_path / "d", {**BASIC, "prompt": "Question: {q}\nA:"}))
    assert len({first.fingerprint(), edited.fingerprint(), reprompted.fingerprint()}) == 3


def test_a_short_numeric_answer_stops_at_the_first_newline(tmp_path):
    """A target that is the answer alone: the numeric scorer cuts at the newline, so what a small model
    writes after its answer ("12\n1000000...") is not read as the answer. A worked-solution target keeps
    the whole text (the extractor finds "The answer is N" in it)."""
    short = load_task_file(make_task(tmp_path / "short", {**BASIC, "target": "{a}", "gold": "{a}"}), load_data=False)
    assert short.score("12\n1000000", "12").correct
    worked = load_task_file(make_task(tmp_path / "worked", BASIC), load_data=False)
    assert not worked.score("12\n1000000", "12").correct  # the last number counts in a worked solution
