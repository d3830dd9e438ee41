"""Write the unit-conversion example's train/valid/test JSONL files (fixed seed: reruns give the same bytes).

    python examples/unit-conversion/make_data.py

Each row converts a quantity between two units of one of 14 conversions, in either direction (so half
the rows multiply by the factor and half divide). Rows are unique across all three files.
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from pathlib import Path

SEED = 0
SIZES = {"train": 400, "valid": 32, "test": 100}
# (larger unit, smaller unit, how many smaller units make one larger), singular then plural names.
CONVERSIONS = [
    (("kilometre", "kilometres"), ("metre", "metres"), 1000),
    (("metre", "metres"), ("centimetre", "centimetres"), 100),
    (("centimetre", "centimetres"), ("millimetre", "millimetres"), 10),
    (("kilogram", "kilograms"), ("gram", "grams"), 1000),
    (("gram", "grams"), ("milligram", "milligrams"), 1000),
    (("tonne", "tonnes"), ("kilogram", "kilograms"), 1000),
    (("litre", "litres"), ("millilitre", "millilitres"), 1000),
    (("hour", "hours"), ("minute", "minutes"), 60),
    (("minute", "minutes"), ("second", "seconds"), 60),
    (("day", "days"), ("hour", "hours"), 24),
    (("week", "weeks"), ("day", "days"), 7),
    (("foot", "feet"), ("inch", "inches"), 12),
    (("yard", "yards"), ("foot", "feet"), 3),
    (("year", "years"), ("month", "months"), 12),
]


def amount(rng: random.Random) -> Decimal:
    """A whole number 2..60, or a half 0.5..20.5 one time in four."""
    if rng.random() < 0.25:
        return Decimal(rng.randint(0, 20)) + Decimal("0.5")
    return Decimal(rng.randint(2, 60))


def text(value: Decimal) -> str:
    return format(value.normalize(), "f")


def row(rng: random.Random) -> dict:
    big, small, factor = rng.choice(CONVERSIONS)
    large_amount = amount(rng)
    small_amount = large_amount * factor
    if rng.random() < 0.5:  # larger -> smaller unit: multiply
        q, src, dst, answer = large_amount, big, small, small_amount
        working = f"{text(q)} * {factor} = {text(answer)}"
    else:  # smaller -> larger unit: divide
        q, src, dst, answer = small_amount, small, big, large_amount
        working = f"{text(q)} / {factor} = {text(answer)}"
    solution = f"1 {big[0]} = {factor} {small[1]}, so {working} {dst[1]}."
    return {"quantity": text(q), "from_unit": src[1], "to_unit": dst[1], "answer": text(answer), "solution": solution}


def main() -> None:
    rng = random.Random(SEED)
    seen: set[tuple] = set()
    folder = Path(__file__).resolve().parent
    for split, size in SIZES.items():
        rows = []
        while len(rows) < size:
            item = row(rng)
            key = (item["quantity"], item["from_unit"], item["to_unit"])
            if key in seen:
                continue
            seen.add(key)
            rows.append({"id": f"{split}-{len(rows):03d}", **item})
        with open(folder / f"{split}.jsonl", "w", encoding="utf-8") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)
        print(f"{split}: {len(rows)} rows -> {folder / f'{split}.jsonl'}")


if __name__ == "__main__":
    main()
