"""A data set of texts for the Corpus page and ``python -m jobs.corpus``: the bundled World
English Bible verses, or a file of one's own.

Formats:
    .txt    one text per line
    .csv    a header row; the texts in the column named ``column`` (default "text")
    .jsonl  one JSON object per line; the texts under the key ``column``

Every problem a file can have ends in a ``TextsError`` whose message says what to do
(empty, too large, not UTF-8 text, no text column, no texts at all), or in a line that is
skipped and counted by reason (blank, too long, not a JSON object, no text there). Texts
are returned as they are: markup in them is data, and the views escape it.
"""

from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VERSES = ROOT / "assets" / "web-verses.tsv"   # written by python -m corpora.bible verses
MAX_BYTES = 20 * 2**20                          # an upload or a --data file
MAX_TEXT_CHARS = 20_000                         # a longer line is skipped (no model reads that much)
FORMATS = (".txt", ".csv", ".jsonl")


class TextsError(ValueError):
    """A data set that cannot be used; the message says why and what to do."""


@dataclass(frozen=True)
class TextSet:
    texts: tuple[str, ...]
    refs: tuple[str, ...]                      # a name per text: "Gen 1:1", "line 12", "row 3"
    source: str
    skipped: dict[str, int] = field(default_factory=dict)   # reason -> lines skipped

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())


def bundled_verses(path: Path = VERSES) -> TextSet:
    """The World English Bible verses shipped in assets/ (3,000, evenly spaced through the Bible)."""
    if not path.is_file():
        raise TextsError(f"The bundled verses ({path.name}) are missing: run python -m corpora.bible verses.")
    rows = [line.split("\t", 1) for line in path.read_text(encoding="utf-8").splitlines() if "\t" in line]
    return TextSet(tuple(r[1] for r in rows), tuple(r[0] for r in rows), "World English Bible verses")


def read_texts(name: str, data: bytes, column: str = "text") -> TextSet:
    """The texts of an uploaded (or --data) file ``name`` whose content is ``data``."""
    suffix = Path(name).suffix.lower()
    if suffix not in FORMATS:
        raise TextsError(f"{name!r}: use a .txt (one text per line), .csv or .jsonl file (a text column).")
    if len(data) > MAX_BYTES:
        raise TextsError(f"{name!r} is {len(data) / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB. "
                         "Take a sample of it, or run python -m jobs.corpus on the whole of it in parts.")
    if not data.strip():
        raise TextsError(f"{name!r} is empty{' (only blank lines)' if data else ''}: it holds no texts.")
    if b"\x00" in data[:65536]:
        raise TextsError(f"{name!r} is a binary file, not text (it holds NUL bytes).")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise TextsError(f"{name!r} is not UTF-8 text (byte {exc.start:,} cannot be read). Save it as "
                         "UTF-8, or check that it is the file you meant.") from None
    skipped: dict[str, int] = {}
    if suffix == ".txt":
        items = [(f"line {i}", line) for i, line in enumerate(text.splitlines(), start=1)]
    elif suffix == ".csv":
        items = _csv_items(name, text, column)
    else:
        items = _jsonl_items(text, column, skipped)
    texts, refs = [], []
    for ref, value in items:
        value = value.strip()
        reason = "blank" if not value else f"longer than {MAX_TEXT_CHARS:,} characters" \
            if len(value) > MAX_TEXT_CHARS else None
        if reason:
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        texts.append(value)
        refs.append(ref)
    if not texts:
        why = ", ".join(f"{n:,} {r}" for r, n in skipped.items())
        raise TextsError(f"{name!r} holds no usable texts ({why}).")
    return TextSet(tuple(texts), tuple(refs), name, skipped)


def _csv_items(name: str, text: str, column: str) -> list[tuple[str, str]]:
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        header = reader.fieldnames or []
        found = _column(header, column)
        if found is None:
            shown = ", ".join(repr(h) for h in header[:10]) or "none"
            raise TextsError(f"{name!r} has no column {column!r} (its columns: {shown}). Name the column "
                             "that holds the texts.")
        return [(f"row {i}", row.get(found) or "") for i, row in enumerate(reader, start=1)]
    except csv.Error as exc:
        raise TextsError(f"{name!r} cannot be read as CSV: {exc}.") from None


def _column(header, column: str) -> str | None:
    for h in header:
        if isinstance(h, str) and h.strip().lower() == column.strip().lower():
            return h
    return None


def _jsonl_items(text: str, column: str, skipped: dict[str, int]) -> list[tuple[str, str]]:
    items = []
    for i, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            skipped["blank"] = skipped.get("blank", 0) + 1
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            obj = None
        if not isinstance(obj, dict):
            skipped["not a JSON object"] = skipped.get("not a JSON object", 0) + 1
            continue
        key = _column(obj.keys(), column)
        value = obj.get(key) if key is not None else None
        if not isinstance(value, str):
            reason = f"no text under {column!r}"
            skipped[reason] = skipped.get(reason, 0) + 1
            continue
        items.append((f"line {i}", value))
    return items


def read_file(path: str | Path, column: str = "text") -> TextSet:
    """``read_texts`` on a file on disk (the command line's --data)."""
    p = Path(path)
    if not p.is_file():
        raise TextsError(f"{str(p)!r} is not a file.")
    if p.stat().st_size > MAX_BYTES:
        raise TextsError(f"{p.name!r} is {p.stat().st_size / 2**20:.1f} MB; the limit is {MAX_BYTES // 2**20} MB.")
    return read_texts(p.name, p.read_bytes(), column)


def sample(texts: TextSet, n: int, seed: int = 0) -> TextSet:
    """At most ``n`` texts drawn without replacement (seeded), kept in their original order."""
    if n >= len(texts.texts):
        return texts
    keep = sorted(random.Random(seed).sample(range(len(texts.texts)), n))
    return TextSet(tuple(texts.texts[i] for i in keep), tuple(texts.refs[i] for i in keep), texts.source,
                   dict(texts.skipped))
