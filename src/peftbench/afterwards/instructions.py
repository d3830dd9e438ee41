"""Instruction following, offline: does the model still do what a prompt's instruction asks after
fine-tuning?

The prompts are written here, not copied from a benchmark: a writing task about one of `TOPICS`, plus
one verifiable instruction of IFEval's kinds (lowercase only, a word limit, keywords to include or
avoid, JSON, a number of bullet points, a title, no commas, an end phrase, quotation marks, a
postscript, paragraphs, highlighted sections), worded and checked by IFEval's own instruction classes
as the `if-verifiable` package ships them. Which topic meets which instruction, and the instruction's
arguments, are fixed by a seeded draw: the same `size` gives the same prompts on every machine. A
change to the prompts or the checks makes a new `VERSION`, recorded with every figure.

A response passes when its instruction's check passes (IFEval's "strict" prompt-level accuracy).
The model answers in its own chat template where it has one (an instruct model is asked as it is
meant to be), greedily, up to `max_new_tokens`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

VERSION = 1
SEED = "peftbench-instructions-v1"

TOPICS = (
    "the water cycle", "how bicycles work", "why leaves change colour in autumn", "the history of the printing press",
    "how bees make honey", "what a compiler does", "the moon's phases", "how to brew a cup of tea",
    "why the sky is blue", "how a library lends books", "the life of a lighthouse keeper", "how trains switch tracks",
    "what makes bread rise", "how volcanoes form", "the rules of chess", "how a refrigerator keeps food cold",
    "why cats purr", "how a bill becomes a law", "the invention of the telephone", "how coral reefs grow",
    "what causes thunder", "how to plant a tree", "the migration of birds", "how solar panels make electricity",
    "why we sleep", "how a camera takes a picture", "the first ascent of a mountain", "how maps are made",
    "what a museum curator does", "how paper is recycled", "the way rivers carve valleys", "how a vaccine works",
    "why ice floats", "how a piano makes sound", "the job of a bridge engineer", "how glass is made",
    "what tides are", "how ants find food", "the history of the postal service", "how wind turbines turn",
)
TASKS = ("Write a short paragraph about {topic}.", "Explain {topic} to a curious child.",
         "Describe {topic} in a few sentences.", "Write a brief note about {topic} for a school newsletter.")
END_PHRASES = ("Is there anything else I can help with?", "Thank you for reading.", "That is all for now.")
# Words that fit any topic: the keyword instructions ask for or forbid them.
KEYWORDS = ("simple", "important", "example", "people", "water", "light", "time", "small", "often", "because")


@dataclass(frozen=True)
class Kind:
    """One kind of instruction: IFEval's id and a draw of its arguments."""

    id: str
    arguments: Any  # (random.Random) -> dict of build_description's keyword arguments


KINDS = (
    Kind("change_case:english_lowercase", lambda r: {}),
    Kind("change_case:english_capital", lambda r: {}),
    Kind("length_constraints:number_words",
         lambda r: {"num_words": r.choice((20, 30, 40, 50)), "relation": r.choice(("less than", "at least"))}),
    Kind("keywords:existence", lambda r: {"keywords": r.sample(KEYWORDS, 2)}),
    Kind("keywords:forbidden_words", lambda r: {"forbidden_words": r.sample(KEYWORDS, 2)}),
    Kind("detectable_format:json_format", lambda r: {}),
    Kind("detectable_format:number_bullet_lists", lambda r: {"num_bullets": r.choice((2, 3, 4))}),
    Kind("detectable_format:title", lambda r: {}),
    Kind("punctuation:no_comma", lambda r: {}),
    Kind("startend:end_checker", lambda r: {"end_phrase": r.choice(END_PHRASES)}),
    Kind("startend:quotation", lambda r: {}),
    Kind("detectable_content:postscript", lambda r: {"postscript_marker": r.choice(("P.S.", "P.P.S"))}),
    Kind("length_constraints:number_paragraphs", lambda r: {"num_paragraphs": r.choice((2, 3))}),
    Kind("detectable_format:number_highlighted_sections", lambda r: {"num_highlights": r.choice((1, 2, 3))}),
)


@dataclass(frozen=True)
class Prompt:
    id: str
    text: str  # the user message: task and instruction
    instruction: str  # IFEval's instruction id
    arguments: dict


def registry() -> dict:
    """IFEval's instruction classes by id (the `if-verifiable` package: the [retention] extra)."""
    from peftbench.system.extras import require

    require("if_verifiable", "retention")
    from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT

    return INSTRUCTION_DICT


def prompts(size: int) -> list[Prompt]:
    """The first `size` prompts of the fixed sequence (each kind equally often, in a seeded order)."""
    classes = registry()
    rng = random.Random(SEED)
    out = []
    for index in range(size):
        kind = KINDS[index % len(KINDS)]
        topic, task = rng.choice(TOPICS), rng.choice(TASKS)
        arguments = kind.arguments(rng)
        checker = classes[kind.id](kind.id)
        random.seed(f"{SEED}-{index}")  # some checkers draw missing arguments from the global generator
        wording = checker.build_description(**arguments)
        out.append(Prompt(f"if-{VERSION}-{index:04d}", f"{task.format(topic=topic)} {wording}", kind.id, arguments))
    return out


def passes(prompt: Prompt, response: str) -> bool:
    """Whether `response` follows `prompt`'s instruction (IFEval's strict check)."""
    checker = registry()[prompt.instruction](prompt.instruction)
    random.seed(f"{SEED}-check")
    checker.build_description(**prompt.arguments)
    try:
        return bool(response.strip()) and bool(checker.check_following(response))
    except Exception:  # a checker that cannot parse what a small model wrote: not followed
        return False
