"""Rows of data -> Examples: the column map, the prompt/target/gold templates, and the chat template.

Placeholders are the data's columns, the names the column map gives them, and for multiple choice
`{options}` (one "A. option" line per choice) and `{gold}` (the right label), usable in the target.
"""

from __future__ import annotations

from peftbench.errors import UserError
from peftbench.tasks.base import Example
from peftbench.tasks.from_file.spec import TaskFileSpec, placeholders
from peftbench.text.extract import normalize_number

DERIVED_CHOICE = ("options", "gold")


class Renderer:
    def __init__(self, spec: TaskFileSpec, task_name: str, where: str):
        self.spec, self.task_name, self.where = spec, task_name, where
        self.target = spec.target or ("{gold}" if spec.scorer.type == "choice" else spec.gold)
        self.gold = spec.gold or spec.target  # unused for choice: the gold label comes from `answer`

    def needed(self, split: str) -> dict[str, list[str]]:
        """Template key -> the columns it reads, for one split (only train needs the target)."""
        spec = self.spec
        keys = {"prompt.template": spec.prompt.template, "prompt.system": spec.prompt.system}
        if spec.scorer.type != "choice":
            keys["gold" if spec.gold else "target"] = self.gold
        if split == "train":
            keys["target" if spec.target else "gold"] = self.target
        derived = DERIVED_CHOICE if spec.scorer.type == "choice" else ()
        return {key: [p for p in placeholders(text) if p not in derived] for key, text in keys.items() if text}

    def check_columns(self, split: str, columns: list[str]) -> None:
        """Every mapped column and placeholder exists in the split: a UserError naming the key otherwise."""
        available = set(columns) | set(self.spec.columns)
        listed = ", ".join(columns)
        for name, column in self.spec.columns.items():
            if column not in columns:
                raise UserError(f"{self.where}: columns.{name}: '{column}' is not a column of the {split} split (columns: {listed})")
        if self.spec.scorer.type == "choice":
            for key in ("choices", "answer"):
                column = getattr(self.spec.scorer, key)
                if column not in available:
                    raise UserError(f"{self.where}: scorer.{key}: '{column}' is not a column of the {split} split (columns: {listed})")
        for key, names in self.needed(split).items():
            for name in names:
                if name not in available:
                    raise UserError(f"{self.where}: {key}: placeholder {{{name}}} is not a column of the "
                                    f"{split} split (columns: {listed})")

    def values(self, row: dict, split: str, idx: int) -> dict:
        values = dict(row)
        for name, column in self.spec.columns.items():
            values[name] = row[column]
        if self.spec.scorer.type == "choice":
            options = values[self.spec.scorer.choices]
            labels = self.spec.scorer.labels
            if not isinstance(options, list) or not 2 <= len(options) <= len(labels):
                raise self._row_error(split, idx, f"scorer.choices: expected a list of 2 to {len(labels)} options, got {options!r}")
            values["options"] = "\n".join(f"{label}. {option}" for label, option in zip(labels, options))
            values["gold"] = self._label(values[self.spec.scorer.answer], options, split, idx)
        return values

    def _label(self, answer, options: list, split: str, idx: int) -> str:
        labels = self.spec.scorer.labels[: len(options)]
        if isinstance(answer, str) and answer.strip() in labels:
            return answer.strip()
        if isinstance(answer, str) and answer.strip().isdigit():
            answer = int(answer.strip())
        if isinstance(answer, int) and not isinstance(answer, bool) and 0 <= answer < len(options):
            return labels[answer]
        if answer in options:
            return labels[options.index(answer)]
        raise self._row_error(split, idx, f"scorer.answer: {answer!r} is not an option index (0-based), label or option text")

    def fill(self, template: str, values: dict, key: str, split: str, idx: int) -> str:
        for name in placeholders(template):
            if values.get(name) is None:
                raise self._row_error(split, idx, f"{key}: column '{name}' is empty")
        return template.format_map(values)

    def example(self, row: dict, split: str, idx: int, chat=None) -> Example:
        values = self.values(row, split, idx)
        prompt = self.fill(self.spec.prompt.template, values, "prompt.template", split, idx)
        if chat is not None:
            system = self.spec.prompt.system
            prompt = chat(prompt, None if system is None else self.fill(system, values, "prompt.system", split, idx))
        if self.spec.scorer.type == "choice":
            gold = values["gold"]
        else:
            gold = self.fill(self.gold, values, "gold", split, idx).strip()
            if self.spec.scorer.type == "numeric":
                number = normalize_number(gold)
                if number is None:
                    raise self._row_error(split, idx, f"gold: {gold!r} is not a number (scorer numeric)")
                gold = number
        target = self.fill(self.target, values, "target", split, idx).strip() if split == "train" else ""
        row_id = str(values["id"]) if values.get("id") is not None else f"{self.task_name}-{split}-{idx}"
        return Example(id=row_id, question=prompt, target=target, gold=gold)

    def _row_error(self, split: str, idx: int, message: str) -> UserError:
        return UserError(f"{self.where}: {split} row {idx + 1}: {message}")


def chat_renderer(tokenizer, model_id: str, where: str):
    """`render(user, system) -> str`: the model's chat template with the generation prompt, as text."""
    if not getattr(tokenizer, "chat_template", None):
        raise UserError(f"{where}: prompt.chat_template: model '{model_id}' has no chat template; "
                        "write the prompt as a plain template instead")
    # Templates that write the BOS token themselves would get a second one when the prompt is tokenised.
    bos = tokenizer.bos_token
    adds_bos = bos is not None and tokenizer("x")["input_ids"][:1] == [tokenizer.bos_token_id]

    def render(user: str, system: str | None) -> str:
        messages = ([{"role": "system", "content": system}] if system is not None else []) + [{"role": "user", "content": user}]
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        return text[len(bos):] if adds_bos and text.startswith(bos) else text

    return render
