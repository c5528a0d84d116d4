"""Text that reaches plotly. Plotly renders a subset of HTML in titles, labels and hover
text, so every string from a user, a tokenizer or a file passes through ``escape``."""

from __future__ import annotations

import html


def escape(text) -> str:
    return html.escape(str(text), quote=False)
