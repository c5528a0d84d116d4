"""Shareable views: chosen session-state values mirrored in the page's address.

``shareable(page, fields)`` is called before a page draws its widgets. When a session
opens the page, values found in the URL's query parameters are parsed and validated, then
put into session state (so the widgets start from them); on every run the current values
are written back, so the address bar always holds a link to this exact view. A value that
does not parse or is out of range is ignored: a hand-edited link never breaks the page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import streamlit as st


@dataclass(frozen=True)
class Field:
    key: str                              # the session-state key (a widget's key, or a stored query)
    parse: Callable[[str], object]        # URL text -> value; raises ValueError when invalid
    show: Callable[[object], str] = str   # value -> URL text


def one_of(options) -> Callable[[str], str]:
    allowed = [str(o) for o in options]

    def parse(text: str) -> str:
        if text not in allowed:
            raise ValueError(text)
        return text
    return parse


def int_in(lo: int, hi: int) -> Callable[[str], int]:
    def parse(text: str) -> int:
        value = int(text)
        if not lo <= value <= hi:
            raise ValueError(text)
        return value
    return parse


def pair_of(cast, lo, hi) -> Callable[[str], tuple]:
    """"a,b" -> (cast(a), cast(b)), both within [lo, hi]."""
    def parse(text: str) -> tuple:
        a, b = (cast(x) for x in text.split(","))
        if not (lo <= a <= hi and lo <= b <= hi):
            raise ValueError(text)
        return a, b
    return parse


def show_pair(value) -> str:
    return ",".join(str(v) for v in value)


def shareable(page: str, fields: list[Field]) -> None:
    opened = f"_share_opened_{page}"
    if not st.session_state.get(opened):
        st.session_state[opened] = True
        for field in fields:
            text = st.query_params.get(field.key)
            if text is None:
                continue
            try:
                st.session_state[field.key] = field.parse(text)
            except (ValueError, TypeError):
                del st.query_params[field.key]  # a stale or hand-edited link: keep the page's default
    for field in fields:
        if field.key in st.session_state:
            st.query_params[field.key] = field.show(st.session_state[field.key])
