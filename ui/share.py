"""Shareable views: chosen session-state values mirrored in the page's address.

``shareable(page, fields)`` is called before a page draws its widgets. When a session
opens the page, values found in the URL's query parameters are parsed and validated, then
put into session state (so the widgets start from them); on every run the current values
are written back, so the address bar always holds a link to this exact view. A value that
does not parse or is out of range is ignored: a hand-edited link never breaks the page.
A text travels only while it is short enough for a link (``MAX_TEXT`` characters).

``copy_link(page)`` is called after the page's last shareable widget (inside a fragment
when the widgets live in one, so a fragment rerun refreshes it too): it writes the values
again and shows the link in ``st.code``, whose copy button (top right of the box) puts it
on the clipboard; Streamlit itself has no clipboard API.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable
from urllib.parse import urlencode

import streamlit as st

MAX_TEXT = 500  # characters of text that go into a link; longer texts stay out of it


@dataclass(frozen=True)
class Field:
    key: str                              # the session-state key (a widget's key, or a stored query)
    parse: Callable[[str], object]        # URL text -> value; raises ValueError when invalid
    show: Callable[[object], str] = str   # value -> URL text
    fits: Callable[[object], bool] = lambda value: True  # False: leave it out of the address


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


def int_or(word: str, lo: int, hi: int) -> Callable[[str], object]:
    """An int in [lo, hi], or the one word (e.g. "mean") a picker offers beside the numbers."""
    number = int_in(lo, hi)
    return lambda text: word if text == word else number(text)


def flag(text: str) -> bool:
    """A checkbox or toggle: "1" or "0" in the address (``show=show_flag``)."""
    if text not in ("0", "1"):
        raise ValueError(text)
    return text == "1"


def show_flag(value) -> str:
    return "1" if value else "0"


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


def _short_text(text: str) -> str:
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise ValueError("no text, or too long for a link")
    return text


def text_field(key: str) -> Field:
    """A typed text: in the address while it is at most MAX_TEXT characters."""
    return Field(key, _short_text, fits=lambda v: isinstance(v, str) and bool(v.strip()) and len(v) <= MAX_TEXT)


_FIELDS: dict[str, list[Field]] = {}  # page -> its fields (the same for every session)


def _write(page: str) -> list[str]:
    """Current values -> query parameters; returns the keys left out (too long)."""
    left_out = []
    for field in _FIELDS.get(page, []):
        if field.key not in st.session_state:
            continue
        value = st.session_state[field.key]
        if field.fits(value):
            st.query_params[field.key] = field.show(value)
        else:
            left_out.append(field.key)
            if field.key in st.query_params:
                del st.query_params[field.key]
    return left_out


def shareable(page: str, fields: list[Field]) -> None:
    _FIELDS[page] = fields
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
    _write(page)


def view_link(page: str) -> str:
    """The address of this view: the page's URL in the browser (a relative path where
    there is no browser, as under AppTest) and the current query parameters."""
    try:
        base = st.context.url
    except (AttributeError, RuntimeError):
        base = None
    params = urlencode({k: st.query_params[k] for k in st.query_params})
    return f"{base or '/' + page}" + (f"?{params}" if params else "")


def link_slot():
    """Where the "Copy link" control goes: the right of a thin row; fill it with copy_link
    once the page's shareable widgets are drawn."""
    return st.columns([3, 1])[1]


def copy_link(page: str, where=None) -> str:
    """Write the view into the address and show its link with a copy button; returns it."""
    left_out = _write(page)
    link = view_link(page)
    box = (st if where is None else where).popover("Copy link", icon=":material/link:",
                                help="A link that opens this page with the same input and choices.")
    with box:
        st.code(link, language=None, wrap_lines=True)
        st.caption("Copy it with the button at the right of the box (or select the text). The address bar "
                   "holds the same link." + (f" Texts longer than {MAX_TEXT} characters are not put in links: "
                                             "the link opens the default text." if left_out else ""))
    return link
