"""Procedural grade-school word problems: the offline default task, no download needed.

Each template tells a short story needing 1-3 arithmetic steps on small numbers (mostly 2..60), so a
135M model can learn the arithmetic and the benchmark measures the fine-tuning method rather than
the model's arithmetic ceiling. Every intermediate and final result is a positive integer and every
division is exact.

Valid and test measure generalisation, not memory:
- the templates in `HELD_OUT_TEMPLATES` never appear in train, and supply a quarter of valid and test;
- the other three quarters come from training templates but with operand tuples train never uses (a
  stable hash reserves one bucket of tuples per template for evaluation). A quarter, not a half:
  a 135M model trained for a few minutes barely transfers to new story shapes, and a test dominated
  by them would hide the differences between methods under a floor effect; the ids keep both parts
  apart for analysis;
- valid and test split the evaluation problems by a hash of the question text, so they never share a
  question, whatever their seeds.

Ids are `minimath-{split}-{template}-{index}` so later analysis can split held-out from seen
templates. Template names use underscores only, keeping the id unambiguous to split on "-".
"""

from __future__ import annotations

import functools
import hashlib
import random
import re
from dataclasses import dataclass
from typing import Callable

from peftbench.tasks.base import Example

SPLITS = ("train", "valid", "test")
_EVAL_BUCKETS = 5  # one in five operand tuples of a training template is kept for valid/test
_MAX_TRIES = 10_000  # per item; only reached when n exceeds what a template can produce uniquely

NAMES = (
    "Tom", "Mia", "Liam", "Ava", "Noah", "Emma", "Omar", "Sofia", "Ravi", "Lena", "Kenji", "Zoe",
    "Lucas", "Aisha", "Mateo", "Nora", "Ivan", "Chloe", "Sam", "Priya",
)


@dataclass(frozen=True)
class _Problem:
    operands: tuple[int, ...]  # every number in the question; decides the train/eval bucket
    question: str
    steps: tuple[str, ...]  # one sentence per arithmetic step
    answer: int


_Template = Callable[[random.Random], _Problem]
_TEMPLATES: dict[str, _Template] = {}
_HELD_OUT: set[str] = set()


def _template(name: str, held_out: bool = False) -> Callable[[_Template], _Template]:
    def register(fn: _Template) -> _Template:
        _TEMPLATES[name] = fn
        if held_out:
            _HELD_OUT.add(name)
        return fn

    return register


def _eq(a: int, op: str, b: int) -> tuple[str, int]:
    """("a op b = c", c), refusing anything that breaks the positive-integer guarantee."""
    results = {"+": a + b, "-": a - b, "*": a * b, "/": a // b}
    c = results[op]
    if c <= 0 or (op == "/" and a % b):
        raise ValueError(f"bad step {a} {op} {b}")
    return f"{a} {op} {b} = {c}", c


def _two_names(rng: random.Random) -> tuple[str, str]:
    first, second = rng.sample(NAMES, 2)
    return first, second


# ---- templates used in training ----------------------------------------------------------------


@_template("buy_more")
def _buy_more(rng):
    who, item = rng.choice(NAMES), rng.choice(["apples", "oranges", "pears", "plums", "lemons"])
    a, b = rng.randint(2, 60), rng.randint(2, 40)
    e, r = _eq(a, "+", b)
    q = f"{who} has {a} {item}. {who} buys {b} more {item}. How many {item} does {who} have now?"
    step = f"{who} starts with {a} {item} and buys {b} more, so {who} has {e} {item}."
    return _Problem((a, b), q, (step,), r)


@_template("give_away")
def _give_away(rng):
    who, friend = _two_names(rng)
    item = rng.choice(["stickers", "marbles", "cards", "stamps", "shells"])
    a = rng.randint(10, 60)
    b = rng.randint(2, a - 1)
    e, r = _eq(a, "-", b)
    q = f"{who} has {a} {item} and gives {b} of them to {friend}. How many {item} does {who} have left?"
    return _Problem((a, b), q, (f"{who} gives away {b} of {a} {item}, so {who} has {e} {item} left.",), r)


@_template("packs")
def _packs(rng):
    who, item = rng.choice(NAMES), rng.choice(["pencils", "crayons", "markers", "erasers", "batteries"])
    a, b = rng.randint(2, 12), rng.randint(2, 12)
    e, r = _eq(a, "*", b)
    q = f"{who} buys {a} packs of {item}. Each pack has {b} {item}. How many {item} does {who} buy in total?"
    return _Problem((a, b), q, (f"{a} packs with {b} {item} each make {e} {item}.",), r)


@_template("share_equal")
def _share_equal(rng):
    who, item = rng.choice(NAMES), rng.choice(["cookies", "candies", "grapes", "strawberries", "nuts"])
    k, each = rng.randint(2, 10), rng.randint(2, 15)
    c = k * each
    e, r = _eq(c, "/", k)
    q = (f"{who} has {c} {item} and shares them equally among {k} friends. "
         f"How many {item} does each friend get?")
    return _Problem((c, k), q, (f"{c} {item} shared equally among {k} friends is {e} {item} each.",), r)


@_template("weekly_savings")
def _weekly_savings(rng):
    who = rng.choice(NAMES)
    a, b, n = rng.randint(2, 60), rng.randint(2, 20), rng.randint(2, 10)
    e1, s = _eq(b, "*", n)
    e2, r = _eq(a, "+", s)
    q = (f"{who} has {a} dollars saved. {who} saves {b} dollars every week for {n} weeks. "
         f"How many dollars does {who} have after {n} weeks?")
    steps = (f"In {n} weeks {who} saves {e1} dollars.",
             f"Adding the {a} dollars already saved gives {e2} dollars.")
    return _Problem((a, b, n), q, steps, r)


@_template("bake_sale")
def _bake_sale(rng):
    item = rng.choice(["muffins", "cupcakes", "rolls", "scones", "bagels"])
    t, m = rng.randint(2, 8), rng.randint(2, 12)
    e1, p = _eq(t, "*", m)
    s = rng.randint(2, min(60, p - 1))
    e2, r = _eq(p, "-", s)
    q = (f"A baker bakes {t} trays of {item} with {m} {item} on each tray. The baker sells {s} {item}. "
         f"How many {item} are left?")
    steps = (f"The baker bakes {e1} {item}.", f"After selling {s}, {e2} {item} are left.")
    return _Problem((t, m, s), q, steps, r)


@_template("bus_trip")
def _bus_trip(rng):
    vehicle = rng.choice(["bus", "truck", "van", "train", "ferry"])
    a, b, d = rng.randint(2, 30), rng.randint(2, 30), rng.randint(2, 6)
    e1, s = _eq(a, "+", b)
    e2, r = _eq(s, "*", d)
    q = (f"Every day a {vehicle} travels {a} km in the morning and {b} km in the afternoon. "
         f"How many km does the {vehicle} travel in {d} days?")
    steps = (f"Each day the {vehicle} travels {e1} km.", f"In {d} days it travels {e2} km.")
    return _Problem((a, b, d), q, steps, r)


@_template("ages")
def _ages(rng):
    who, sibling = _two_names(rng)
    a, b, c = rng.randint(3, 40), rng.randint(2, 30), rng.randint(2, 20)
    e1, s = _eq(a, "+", b)
    e2, r = _eq(s, "+", c)
    q = (f"{who} is {a} years old. {sibling} is {b} years older than {who}. "
         f"How old will {sibling} be in {c} years?")
    steps = (f"{sibling} is {e1} years old now.", f"In {c} years {sibling} will be {e2} years old.")
    return _Problem((a, b, c), q, steps, r)


@_template("crayon_boxes")
def _crayon_boxes(rng):
    item = rng.choice(["crayons", "stickers", "beads", "buttons", "chalk sticks"])
    b, k = rng.randint(2, 10), rng.randint(2, 12)
    e1, t = _eq(b, "*", k)
    p = rng.choice([d for d in range(2, 13) if t % d == 0])  # never empty: b itself divides t
    e2, r = _eq(t, "/", p)
    q = (f"A teacher has {b} boxes of {item} with {k} {item} in each box. The {item} are shared equally "
         f"among {p} children. How many {item} does each child get?")
    steps = (f"There are {e1} {item}.", f"Each of the {p} children gets {e2} {item}.")
    return _Problem((b, k, p), q, steps, r)


@_template("bookshelf")
def _bookshelf(rng):
    who = rng.choice(NAMES)
    a = rng.randint(20, 60)
    b, c = rng.randint(2, a - 1), rng.randint(2, 30)
    e1, s = _eq(a, "-", b)
    e2, r = _eq(s, "+", c)
    q = (f"{who}'s bookshelf holds {a} books. {who} donates {b} of them to a school and then buys {c} new "
         f"books. How many books are on the bookshelf now?")
    steps = (f"After donating {b}, {e1} books are left.", f"Adding {c} new books gives {e2} books.")
    return _Problem((a, b, c), q, steps, r)


@_template("garden")
def _garden(rng):
    who, plant = rng.choice(NAMES), rng.choice(["tomato", "pepper", "bean", "sunflower", "pumpkin"])
    rows, per_row, extra = rng.randint(2, 8), rng.randint(2, 10), rng.randint(2, 20)
    e1, p = _eq(rows, "*", per_row)
    e2, t = _eq(p, "+", extra)
    dead = rng.randint(2, min(20, t - 1))
    e3, r = _eq(t, "-", dead)
    q = (f"{who} plants {rows} rows of {plant} plants with {per_row} plants in each row, and {extra} "
         f"more {plant} plants by the fence. Later {dead} plants die. How many plants are still growing?")
    steps = (f"The rows hold {e1} plants.", f"With the plants by the fence there are {e2} plants.",
             f"After {dead} die, {e3} plants are still growing.")
    return _Problem((rows, per_row, extra, dead), q, steps, r)


@_template("balloons")
def _balloons(rng):
    who = rng.choice(NAMES)
    bags, per_bag = rng.randint(2, 8), rng.randint(3, 12)
    e1, total = _eq(bags, "*", per_bag)
    splits = [(k, m) for k in range(2, 7) for m in range(2, 11) if k * m < total]
    tables, each = rng.choice(splits)  # never empty: total >= 6 > 2 * 2
    popped = total - tables * each
    e2, left = _eq(total, "-", popped)
    e3, r = _eq(left, "/", tables)
    q = (f"{who} buys {bags} bags of balloons with {per_bag} balloons in each bag. {popped} balloons pop. "
         f"{who} puts the rest on {tables} tables, the same number on each table. "
         f"How many balloons go on each table?")
    steps = (f"{who} buys {e1} balloons.", f"After {popped} pop, {e2} balloons are left.",
             f"Each table gets {e3} balloons.")
    return _Problem((bags, per_bag, popped, tables), q, steps, r)


@_template("shopping_change")
def _shopping_change(rng):
    who = rng.choice(NAMES)
    pairs = [("notebooks", "backpack"), ("shirts", "hat"), ("books", "lamp"), ("cups", "teapot")]
    items, extra = rng.choice(pairs)
    n, price, extra_price = rng.randint(2, 6), rng.randint(2, 9), rng.randint(2, 15)
    e1, s = _eq(n, "*", price)
    e2, t = _eq(s, "+", extra_price)
    bill = rng.choice([b for b in (20, 50, 100) if b > t])  # t <= 69, so 100 always fits
    e3, r = _eq(bill, "-", t)
    q = (f"{who} buys {n} {items} that cost {price} dollars each and a {extra} that costs "
         f"{extra_price} dollars. {who} pays with a {bill} dollar bill. "
         f"How many dollars of change does {who} get?")
    steps = (f"The {items} cost {e1} dollars.", f"With the {extra}, the total is {e2} dollars.",
             f"The change is {e3} dollars.")
    return _Problem((n, price, extra_price, bill), q, steps, r)


# ---- held-out templates: never in train ---------------------------------------------------------


@_template("pet_food", held_out=True)
def _pet_food(rng):
    who, pet = rng.choice(NAMES), rng.choice(["dog", "cat", "rabbit", "parrot", "goat"])
    cups, days = rng.randint(2, 9), rng.randint(2, 30)
    e, r = _eq(cups, "*", days)
    q = (f"{who}'s {pet} eats {cups} cups of food every day. "
         f"How many cups of food does the {pet} eat in {days} days?")
    return _Problem((cups, days), q, (f"In {days} days the {pet} eats {e} cups of food.",), r)


@_template("bird_count", held_out=True)
def _bird_count(rng):
    birds = rng.choice(["sparrows", "pigeons", "crows", "ducks"])
    place = rng.choice(["fence", "roof", "field"])
    a, b = rng.randint(2, 60), rng.randint(2, 40)
    e, r = _eq(a, "+", b)
    q = (f"There are {a} {birds} on the {place}. Then {b} more {birds} land on the {place}. "
         f"How many {birds} are on the {place} now?")
    return _Problem((a, b), q, (f"{a} {birds} and {b} more make {e} {birds}.",), r)


@_template("fuel_cost", held_out=True)
def _fuel_cost(rng):
    who = rng.choice(NAMES)
    km_per_liter, liters, price = rng.randint(2, 12), rng.randint(2, 10), rng.randint(2, 5)
    distance = km_per_liter * liters
    e1, used = _eq(distance, "/", km_per_liter)
    e2, r = _eq(used, "*", price)
    q = (f"{who}'s car drives {km_per_liter} km on one liter of fuel. {who} drives {distance} km. "
         f"Fuel costs {price} dollars per liter. How many dollars does the fuel for the trip cost?")
    steps = (f"The trip uses {e1} liters.", f"The fuel costs {e2} dollars.")
    return _Problem((km_per_liter, distance, price), q, steps, r)


@_template("farm_sale", held_out=True)
def _farm_sale(rng):
    first, second, group = rng.choice([("chickens", "ducks", "birds"), ("cows", "goats", "animals"),
                                       ("sheep", "pigs", "animals")])
    a, b = rng.randint(2, 40), rng.randint(2, 40)
    e1, s = _eq(a, "+", b)
    c = rng.randint(2, min(40, s - 1))
    e2, r = _eq(s, "-", c)
    q = (f"A farmer has {a} {first} and {b} {second}. The farmer sells {c} of the {group} at the market. "
         f"How many {group} does the farmer have left?")
    steps = (f"The farmer has {e1} {group}.", f"After selling {c}, {e2} {group} are left.")
    return _Problem((a, b, c), q, steps, r)


@_template("school_teams", held_out=True)
def _school_teams(rng):
    classes, size = rng.randint(2, 6), rng.randint(10, 30)
    e1, total = _eq(classes, "*", size)
    team = rng.randint(2, 8)
    # absent count: a remainder that leaves a positive multiple of the team size, so teams come out exact
    absent = rng.choice([g for g in range(2, 31) if (total - g) % team == 0 and total - g > 0])
    e2, present = _eq(total, "-", absent)
    e3, r = _eq(present, "/", team)
    q = (f"A school has {classes} classes with {size} students in each class. {absent} students are absent "
         f"today. The students who are present form teams of {team}. How many teams are there?")
    steps = (f"There are {e1} students.", f"With {absent} absent, {e2} students are present.",
             f"They form {e3} teams.")
    return _Problem((classes, size, absent, team), q, steps, r)


@_template("reading", held_out=True)
def _reading(rng):
    who = rng.choice(NAMES)
    per_day, days, weekend = rng.randint(2, 12), rng.randint(2, 7), rng.randint(2, 20)
    e1, weekday_pages = _eq(per_day, "*", days)
    e2, read = _eq(weekday_pages, "+", weekend)
    book = read + rng.randint(2, 60)
    e3, r = _eq(book, "-", read)
    q = (f"{who} is reading a book with {book} pages. {who} reads {per_day} pages a day for {days} days and "
         f"then {weekend} more pages on the weekend. How many pages are left to read?")
    steps = (f"In {days} days {who} reads {e1} pages.", f"With the weekend pages that is {e2} pages.",
             f"So {e3} pages are left.")
    return _Problem((book, per_day, days, weekend), q, steps, r)


@_template("lemonade", held_out=True)
def _lemonade(rng):
    who, drink = rng.choice(NAMES), rng.choice(["lemonade", "orange juice", "iced tea", "hot cocoa"])
    a, b, price = rng.randint(2, 30), rng.randint(2, 30), rng.randint(2, 5)
    e1, cups = _eq(a, "+", b)
    e2, r = _eq(cups, "*", price)
    q = (f"{who} sells {a} cups of {drink} on Saturday and {b} cups on Sunday. "
         f"Each cup costs {price} dollars. How many dollars does {who} earn?")
    steps = (f"{who} sells {e1} cups.", f"At {price} dollars a cup that is {e2} dollars.")
    return _Problem((a, b, price), q, steps, r)


HELD_OUT_TEMPLATES: frozenset[str] = frozenset(_HELD_OUT)
HELD_OUT_EVERY = 4  # valid/test: one problem in this many uses a held-out template
TEMPLATES: tuple[str, ...] = tuple(_TEMPLATES)
_SEEN = tuple(name for name in TEMPLATES if name not in HELD_OUT_TEMPLATES)
_UNSEEN = tuple(name for name in TEMPLATES if name in HELD_OUT_TEMPLATES)


def _hash_byte(text: str) -> int:
    # sha256, not hash(): Python's str hash changes per process, and splits must not.
    return hashlib.sha256(text.encode()).digest()[0]


def _reserved_for_eval(name: str, operands: tuple[int, ...]) -> bool:
    return _hash_byte(f"{name}:{operands}") % _EVAL_BUCKETS == 0


def _accepts(split: str, name: str, problem: _Problem) -> bool:
    if split == "train":
        return name not in HELD_OUT_TEMPLATES and not _reserved_for_eval(name, problem.operands)
    if name not in HELD_OUT_TEMPLATES and not _reserved_for_eval(name, problem.operands):
        return False
    eval_split = "valid" if _hash_byte(problem.question) % 2 == 0 else "test"
    return eval_split == split


class _Exhausted(Exception):
    """A template has no more distinct problems for a split."""


def _draw(rng: random.Random, split: str, name: str, taken: set[str]) -> _Problem:
    for _ in range(_MAX_TRIES):
        problem = _TEMPLATES[name](rng)
        if problem.question not in taken and _accepts(split, name, problem):
            return problem
    raise _Exhausted(name)


_EQUATION = re.compile(r"\d+ [-+*/] \d+ = \d+")


def worked_solution(steps: tuple[str, ...], answer: int) -> str:
    """The equations of the steps, then the answer: "4 * 6 = 24. 24 + 11 = 35. The answer is 35."

    Terse on purpose: on a CPU every token costs, and the equations carry all the reasoning a small
    model has to learn, so a short target buys more problems per second of training."""
    equations = [eq for step in steps for eq in _EQUATION.findall(step)]
    return " ".join(f"{eq}." for eq in equations) + f" The answer is {answer}."


def generate(split: str, n: int, seed: int = 0) -> list[Example]:
    """`n` distinct problems of `split`; the same (split, n, seed) always gives the same list."""
    made = _problems(split, n, seed)
    if len(made) < n:
        raise ValueError(f"minimath: cannot supply more than {len(made)} distinct {split} problems "
                         f"(seed {seed}); lower n")
    return list(made)


def supply(split: str, n: int, seed: int = 0) -> int:
    """How many of `n` problems `split` can supply: `n`, or fewer when a template runs out. Planning
    asks before any model loads; the problems are kept, so the run that follows reuses them."""
    return len(_problems(split, n, seed))


@functools.lru_cache(maxsize=8)
def _problems(split: str, n: int, seed: int) -> tuple[Example, ...]:
    """Up to `n` problems; fewer only when a template has no more distinct ones (the cost of finding
    out is bounded: the first template that runs out ends the list, whatever `n`)."""
    if split not in SPLITS:
        raise ValueError(f"minimath: unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    if n < 0:
        raise ValueError(f"minimath: n must be >= 0, got {n}")
    # A string seed is hashed with sha512 by `random`, so it is stable across processes and platforms.
    rng = random.Random(f"minimath-{split}-{seed}")
    taken: set[str] = set()
    examples = []
    for index in range(n):
        # valid/test: every fourth problem comes from a held-out template.
        pool = _SEEN if split == "train" or index % HELD_OUT_EVERY else _UNSEEN
        name = rng.choice(pool)
        try:
            problem = _draw(rng, split, name, taken)
        except _Exhausted:
            break
        taken.add(problem.question)
        target = worked_solution(problem.steps, problem.answer)
        example_id = f"minimath-{split}-{name}-{index}"
        examples.append(Example(example_id, problem.question, target, str(problem.answer)))
    return tuple(examples)
