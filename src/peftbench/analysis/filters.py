"""Row filters typed by a user (dashboard filter box), parsed by a whitelist — never `eval`/`query`.

Grammar (keywords case-insensitive):

    filter     := or_expr
    or_expr    := and_expr ("or" and_expr)*
    and_expr   := not_expr ("and" not_expr)*
    not_expr   := "not" not_expr | "(" or_expr ")" | comparison
    comparison := column op literal | column ["not"] "in" "(" literal ("," literal)* ")"
    op         := == | = | != | < | <= | > | >=
    column     := words (`test accuracy`, matched ignoring case and `_` vs space) | `backquoted` | "quoted"
    literal    := number (`0.3`, `-1e9`, `30%`) | true | false | 'text' | "text" | bare words

The parser only ever builds comparison nodes over existing columns, so text like
`@pd.compat.os.system('x')` or `__import__('os')` is an unknown column or a syntax error: `InvalidFilter`.
A missing value (NaN/None) satisfies no comparison; `not` selects every row its operand does not,
missing values included.
"""

from __future__ import annotations

import operator
import re
from dataclasses import dataclass
from typing import NoReturn, Union

import numpy as np
import pandas as pd

from peftbench.errors import UserError

MAX_LENGTH = 2000  # a filter is a line typed by a person
MAX_DEPTH = 40  # nesting of parentheses / `not`; bounds the recursion

OPS = {"==": operator.eq, "=": operator.eq, "!=": operator.ne, "<": operator.lt, "<=": operator.le,
       ">": operator.gt, ">=": operator.ge}
KEYWORDS = {"and", "or", "not", "in", "true", "false"}
_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?%?")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<op>==|!=|<=|>=|=|<|>)
  | (?P<punct>[(),])
  | (?P<backquoted>`[^`]*`)
  | (?P<quoted>"[^"]*"|'[^']*')
  | (?P<word>[^\s()<>=!,'"`]+)
""", re.VERBOSE)


class InvalidFilter(UserError):
    """A filter the grammar does not accept, or one that names an unknown column."""

    def __init__(self, why: str):
        super().__init__(f"invalid filter: {why}")


@dataclass(frozen=True)
class Token:
    kind: str  # op, punct, keyword, number, text ('quoted'), column (`backquoted`), name (bare word)
    value: object
    pos: int
    raw: str  # as typed, for messages


def tokenize(text: str) -> list[Token]:
    tokens, pos = [], 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:  # a lone `!` or an unclosed quote
            raise InvalidFilter(f"unexpected {text[pos]!r} at position {pos + 1}")
        kind, raw = match.lastgroup, match.group()
        if kind == "backquoted":
            tokens.append(Token("column", raw[1:-1], pos, raw))
        elif kind == "quoted":
            tokens.append(Token("text", raw[1:-1], pos, raw))
        elif kind == "word":
            tokens.append(_word(raw, pos))
        elif kind != "space":
            tokens.append(Token(kind, raw, pos, raw))
        pos = match.end()
    return tokens


def _word(raw: str, pos: int) -> Token:
    if raw.lower() in KEYWORDS:
        return Token("keyword", raw.lower(), pos, raw)
    if _NUMBER.fullmatch(raw):
        value = float(raw[:-1]) / 100 if raw.endswith("%") else float(raw)
        if not np.isfinite(value):
            raise InvalidFilter(f"number {raw!r} is out of range")
        return Token("number", value, pos, raw)
    return Token("name", raw, pos, raw)  # a column, or on the right of a comparison a bare text value


@dataclass(frozen=True)
class Compare:
    column: str
    op: str
    values: tuple  # one literal, or the list of `in`


@dataclass(frozen=True)
class Not:
    operand: "Node"


@dataclass(frozen=True)
class BoolOp:
    op: str  # and / or
    operands: tuple


Node = Union[Compare, Not, BoolOp]


def _normal(name: str) -> str:
    return " ".join(name.replace("_", " ").lower().split())


class Parser:
    def __init__(self, tokens: list[Token], columns: list[str], aliases: dict[str, str]):
        self.tokens, self.i, self.depth = tokens, 0, 0
        self.columns = {str(c): str(c) for c in columns}
        self.columns.update({k: v for k, v in aliases.items() if v in self.columns})
        self.loose: dict[str, set[str]] = {}
        for name, target in self.columns.items():
            self.loose.setdefault(_normal(name), set()).add(target)

    def peek(self, kind: str, value: str | None = None) -> bool:
        """Is the next token of this kind (and, for keywords/punctuation, this value)?"""
        if self.i >= len(self.tokens):
            return False
        token = self.tokens[self.i]
        return token.kind == kind and (value is None or token.value == value)

    def next(self, what: str) -> Token:
        if self.i >= len(self.tokens):
            raise InvalidFilter(f"expected {what}, got the end of the filter")
        self.i += 1
        return self.tokens[self.i - 1]

    def expect(self, value: str, what: str) -> None:
        if not self.peek("punct", value):
            self.fail(what)
        self.i += 1

    def fail(self, what: str) -> NoReturn:
        if self.i >= len(self.tokens):
            raise InvalidFilter(f"expected {what}, got the end of the filter")
        token = self.tokens[self.i]
        raise InvalidFilter(f"expected {what} at position {token.pos + 1}, got {token.raw!r}")

    def parse(self) -> Node:
        node = self.or_expr()
        if self.i < len(self.tokens):
            self.fail("`and`, `or` or the end of the filter")
        return node

    def or_expr(self) -> Node:
        return self.chain("or", self.and_expr)

    def and_expr(self) -> Node:
        return self.chain("and", self.not_expr)

    def chain(self, keyword: str, operand) -> Node:
        """`operand (keyword operand)*`, one node per chain rather than a nested pair per keyword."""
        parts = [operand()]
        while self.peek("keyword", keyword):
            self.i += 1
            parts.append(operand())
        return parts[0] if len(parts) == 1 else BoolOp(keyword, tuple(parts))

    def not_expr(self) -> Node:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise InvalidFilter(f"nested more than {MAX_DEPTH} levels deep")
        if self.peek("keyword", "not"):
            self.i += 1
            node = Not(self.not_expr())
        elif self.peek("punct", "("):
            self.i += 1
            node = self.or_expr()
            self.expect(")", "`)`")
        else:
            node = self.comparison()
        self.depth -= 1
        return node

    def comparison(self) -> Compare:
        column = self.column()
        if self.peek("keyword", "not"):
            self.i += 1
            if not self.peek("keyword", "in"):
                self.fail("`in` after `not`")
            self.i += 1
            return Compare(column, "not in", self.literal_list())
        if self.peek("keyword", "in"):
            self.i += 1
            return Compare(column, "in", self.literal_list())
        if not self.peek("op"):
            self.fail(f"a comparison (== != < <= > >= in) after {column!r}")
        op = self.next("an operator").value
        return Compare(column, "==" if op == "=" else op, (self.literal(),))

    def column(self) -> str:
        if self.peek("column") or self.peek("text"):  # `backquoted` or "quoted": taken as written
            name = self.next("a column").value
        elif self.peek("name"):  # bare words, joined with single spaces: test accuracy
            words = [self.next("a column").value]
            while self.peek("name"):
                words.append(self.next("a column").value)
            name = " ".join(words)
        else:
            self.fail("a column name")
        return self.resolve(name)

    def resolve(self, name: str) -> str:
        if name in self.columns:
            return self.columns[name]
        matches = self.loose.get(_normal(name), set())
        if len(matches) == 1:
            return next(iter(matches))
        shown = ", ".join(sorted(set(self.columns.values()))[:40])
        if matches:
            raise InvalidFilter(f"column {name!r} is ambiguous: {', '.join(sorted(matches))}")
        raise InvalidFilter(f"unknown column {name!r} (columns: {shown})")

    def literal(self):
        token = self.next("a value")
        if token.kind in ("number", "text"):
            return token.value
        if token.kind == "keyword" and token.value in ("true", "false"):
            return token.value == "true"
        if token.kind == "name":  # bare words: text, e.g. `method == lora`
            words = [token.value]
            while self.peek("name"):
                words.append(self.next("a value").value)
            return " ".join(words)
        self.i -= 1
        self.fail("a value (number, true/false or text)")

    def literal_list(self) -> tuple:
        self.expect("(", "`(` after `in`")
        values = [self.literal()]
        while self.peek("punct", ","):
            self.i += 1
            values.append(self.literal())
        self.expect(")", "`,` or `)` closing the `in` list")
        return tuple(values)


def parse_filter(text: str, columns, aliases: dict[str, str] | None = None) -> Node | None:
    """The filter's syntax tree over `columns` (None for an empty filter); `InvalidFilter` otherwise.

    `aliases` maps other names (e.g. a metric's record key) to one of `columns`."""
    if not isinstance(text, str):
        raise InvalidFilter(f"expected text, got {type(text).__name__}")
    if len(text) > MAX_LENGTH:
        raise InvalidFilter(f"longer than {MAX_LENGTH} characters")
    tokens = tokenize(text)
    if not tokens:
        return None
    return Parser(tokens, list(columns), aliases or {}).parse()


def _show(value) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    return f"{value:g}" if isinstance(value, float) else repr(value)


def _is_text_column(series: pd.Series) -> bool:
    return not (pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series))


def _compare(series: pd.Series, node: Compare) -> np.ndarray:
    if isinstance(series, pd.DataFrame):  # the table has two columns of this name
        raise InvalidFilter(f"column {node.column!r} is ambiguous")
    known = series.notna().to_numpy()
    text_column = _is_text_column(series)
    for value in node.values:
        if text_column and not isinstance(value, str):
            raise InvalidFilter(f"column {node.column!r} holds text: quote the value {_show(value)}")
        if not text_column and isinstance(value, str):
            raise InvalidFilter(f"column {node.column!r} holds numbers: {value!r} is not a number")
    if text_column:
        if node.op not in ("==", "!=", "in", "not in"):
            raise InvalidFilter(f"column {node.column!r} holds text: use == != in, not {node.op}")
        series = series.astype("string")
    if node.op in ("in", "not in"):
        hit = series.isin(list(node.values)).to_numpy(dtype=bool, na_value=False)
        return known & (hit if node.op == "in" else ~hit)
    values = series.astype(float) if not text_column else series
    result = OPS[node.op](values, node.values[0])
    return known & np.asarray(result.fillna(False) if hasattr(result, "fillna") else result, dtype=bool)


def evaluate(node: Node | None, df: pd.DataFrame) -> np.ndarray:
    if node is None:
        return np.ones(len(df), dtype=bool)
    if isinstance(node, Compare):
        return _compare(df[node.column], node)
    if isinstance(node, Not):
        return ~evaluate(node.operand, df)
    masks = [evaluate(part, df) for part in node.operands]
    return np.logical_and.reduce(masks) if node.op == "and" else np.logical_or.reduce(masks)


def filter_mask(df: pd.DataFrame, text: str, aliases: dict[str, str] | None = None) -> pd.Series:
    """Boolean mask of the rows `text` selects (all rows for an empty filter); `InvalidFilter` otherwise."""
    node = parse_filter(text, df.columns, aliases)
    return pd.Series(evaluate(node, df), index=df.index, dtype=bool)
