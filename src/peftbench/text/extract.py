"""Final-answer extraction for math word problems.

Accuracy depends entirely on this module, so its rules are fixed and versioned (`EXTRACTOR_VERSION`
is recorded with every result; bump it whenever a rule changes, since scores are then not
comparable).

Rules, in order:

1. The FIRST explicit answer marker wins: `#### N`, `The answer is N` (also `The answer is: N`),
   `The final answer is N` (case-insensitive), or `\\boxed{N}`; N is the first number on the rest of
   that line. The first marker, not the last, because small models rarely stop after answering: they
   go on to invent a new "Question: ..." and answer that too, so later markers belong to problems
   nobody asked. A marker with no number after it on its line is skipped.
2. With no usable marker, the last number in the text.

Numbers may carry `$`, `%`, `**` markdown, thousands separators (`1,234`), a sign, decimals (`3.50`)
or be fractions (`7/2`, `\\frac{7}{2}`); `normalize_number` gives the canonical form ("17", "3.5",
"2/3"). The regexes have no nested quantifiers and the marker windows never overlap, so
pathological generations cannot hang scoring.
"""

from __future__ import annotations

import re
from fractions import Fraction

from peftbench.tasks.base import Score

EXTRACTOR_VERSION = "1"

# A minus sign counts only when not glued to a preceding word/number ("10-12" is a range, not -12).
# Thousands groups must be exact (`1,234`, not `3,4,5`), else fall back to plain digits.
_NUMBER = re.compile(
    r"(?:(?<![\w)])-)?"
    r"(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
    r"(?:\.\d+)?"
    r"(?:/\d+)?"
)
_MARKER = re.compile(
    r"####|\bthe\s+(?:final\s+)?answer\s+is\b|\\boxed\s*\{",
    re.IGNORECASE,
)
# LaTeX fractions are rewritten to `a/b` before scanning so one number regex covers both spellings.
_LATEX_FRAC = re.compile(r"\\[dt]?frac\s*\{\s*(-?[\d,.]+)\s*\}\s*\{\s*(-?[\d,.]+)\s*\}")
_PLAIN = re.compile(r"-?\d+(?:\.\d+)?")
_MARKER_WINDOW = 200  # chars after a marker searched for its number; bounds work on huge lines


def _to_fraction(s: str) -> Fraction | None:
    """Parse a number string (with the decorations models add) to an exact value, or None."""
    s = s.strip().strip("*").strip().replace("$", "").replace("%", "").replace(",", "").strip()
    s = s.rstrip(".")
    parts = s.split("/")
    if len(parts) > 2 or not all(_PLAIN.fullmatch(p.strip()) for p in parts):
        return None
    try:
        values = [Fraction(p.strip()) for p in parts]
    except ValueError:  # e.g. more digits than int() will convert
        return None
    if len(values) == 2:
        return None if values[1] == 0 else values[0] / values[1]
    return values[0]


def _format(value: Fraction) -> str:
    """Integers as "17", terminating decimals as "3.5", anything else as reduced "a/b"."""
    num, den = value.numerator, value.denominator
    if den == 1:
        return str(num)
    twos, fives, rest = 0, 0, den
    while rest % 2 == 0:
        rest, twos = rest // 2, twos + 1
    while rest % 5 == 0:
        rest, fives = rest // 5, fives + 1
    if rest != 1:
        return f"{num}/{den}"
    places = max(twos, fives)
    digits = str(abs(num) * 10**places // den).rjust(places + 1, "0")
    sign = "-" if num < 0 else ""
    return f"{sign}{digits[:-places]}.{digits[-places:].rstrip('0')}"


def normalize_number(s: str) -> str | None:
    """Canonical string for a number ("3.50" -> "3.5", "1,000" -> "1000", "$5" -> "5"), or None."""
    value = _to_fraction(s)
    if value is None:
        return None
    try:
        return _format(value)
    except ValueError:  # absurdly long fraction: more digits than str(int) allows
        return None


def _first_number(segment: str) -> str | None:
    for match in _NUMBER.finditer(segment):
        canonical = normalize_number(match.group())
        if canonical is not None:
            return canonical
    return None


def extract_answer(text: str) -> str | None:
    """The final numeric answer in generated text (canonical form), or None if it has no number."""
    text = _LATEX_FRAC.sub(r"\1/\2", text)
    markers = list(_MARKER.finditer(text))
    for i, marker in enumerate(markers):
        # A segment ends at the next marker too, which keeps the total scan linear in len(text).
        next_start = markers[i + 1].start() if i + 1 < len(markers) else len(text)
        end = min(marker.end() + _MARKER_WINDOW, next_start)
        segment = text[marker.end() : end].split("\n", 1)[0]
        found = _first_number(segment)
        if found is not None:
            return found
    for match in reversed(list(_NUMBER.finditer(text))):
        canonical = normalize_number(match.group())
        if canonical is not None:
            return canonical
    return None


def answer_is_final(text: str) -> bool:
    """True when no continuation of `text` can change `extract_answer`'s result: a marker's number
    sits on a finished line (or a segment that cannot grow), and every earlier marker is finished
    without one. Lets generation stop a row once its answer is settled. Conservative: False whenever
    unsure (LaTeX fractions may span lines, so any `frac` means "not yet")."""
    if "frac" in text:
        return False
    markers = list(_MARKER.finditer(text))
    for i, marker in enumerate(markers):
        window_end = marker.end() + _MARKER_WINDOW
        bounded = i + 1 < len(markers) or window_end <= len(text)  # the segment's end is already fixed
        end = min(window_end, markers[i + 1].start()) if i + 1 < len(markers) else min(window_end, len(text))
        line, newline, _ = text[marker.end() : end].partition("\n")
        if not (newline or bounded):
            return False  # this marker's line may still grow and gain (or extend) its number
        if _first_number(line) is not None:
            return True
    return False


def score(prediction: str, gold: str) -> Score:
    """Extract from `prediction`; correct iff it equals `gold` as an exact number."""
    extracted = extract_answer(prediction)
    gold_value = _to_fraction(gold)
    predicted = None if extracted is None else _to_fraction(extracted)
    correct = gold_value is not None and predicted == gold_value
    return Score(extracted=extracted, correct=correct)
