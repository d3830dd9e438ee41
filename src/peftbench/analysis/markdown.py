"""Text from records (experiment names, models, paths) in summary.md: shown as Markdown, never as raw HTML."""

from __future__ import annotations

import html

import pandas as pd


def md_text(value) -> str:
    """A name like `<img onerror=...>` would otherwise run in any viewer that renders summary.md; `|`
    would end a table cell."""
    return html.escape(str(value), quote=False).replace("|", "\\|")


def md_table(frame: pd.DataFrame) -> str:
    safe = frame.map(md_text).rename(columns=md_text)
    return safe.to_markdown(index=False, disable_numparse=True)
