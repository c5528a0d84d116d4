"""English→Spanish verse pairs from two public-domain Bibles, with a word alignment.

Sources (Debian packages, read with the PyPI package ``pysword``):
    sword-text-web    engWEB2015eb  World English Bible (OSIS, Strong's numbers, NRSVA versification)
    sword-text-sparv  spaRV1909eb   Reina-Valera 1909   (OSIS, Strong's numbers, KJV versification)

Markup. A naive tag strip glues words: ``<w>God</w><note>…</note><w>created</w>``
becomes "Godcreated". ``clean_osis`` walks the markup, drops notes and
non-canonical headings, and inserts a space wherever a tag boundary sits between two
word characters, except for inline tags that may split one word
(``preguntándo<transChange>le</transChange>``). Whitespace is then collapsed. Each
character remembers the Strong's numbers of the ``<w lemma="strong:…">`` around it, so
every whitespace word of the clean text carries a set of Strong's numbers.

Reference alignment. English word i and Spanish word j are linked when they share a
Strong's number (both tie back to the same Hebrew/Greek word). It is human-made but
coarse (WEB's tags sometimes sit one word off, RV tags whole phrases such as
"y la tierra"), so scores against it are relative: compare to the chance baseline.

Split. By chapter, never by verse: chapters are numbered through the whole Bible
and chapter k goes to dev when k % 20 == 7, to test when k % 20 == 17, else train.
Test verses are therefore never in training and come from every book.

Subwords. Two sentencepiece unigram models (English, Spanish), trained on the
training split only.

CLI:
    python -m corpora.bible build [--out data/translation] [--vocab 4000]
    python -m corpora.bible sample      # assets/translation-test-verses.jsonl
    python -m corpora.bible show Gen 1 1
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data" / "translation"
SWORD_DIR = Path("/usr/share/sword")
EN_MODULE, ES_MODULE = "engWEB2015eb", "spaRV1909eb"

# Elements whose text is not part of the verse.
_DROP = {"note"}
# Inline elements that may sit inside one word: no space is inserted at their edges.
_INLINE = {"transChange", "hi", "foreign", "seg", "name", "catchWord", "w", "q"}
# Line/paragraph breaks and removed notes stand for a gap: "nothing;<l/><l/>I" -> "nothing; I",
# "conceived,<note>…</note>and" -> "conceived, and"; but "shekel<note>…</note>." keeps "shekel.".
_BREAKS = {"l", "lb", "lg", "div", "p", "title", "milestone", "chapter", "verse", "list", "item", "speaker",
           "cb", "note"}
_OPENING = set("“‘\"'(¿¡[«")
_TAG = re.compile(r"<(/?)([A-Za-z][\w:]*)([^>]*?)(/?)>", re.S)
_LEMMA = re.compile(r"strong:([HG])0*(\d+)")


@dataclass(frozen=True)
class CleanVerse:
    text: str
    words: tuple[str, ...]
    strongs: tuple[frozenset, ...]  # per word: Strong's numbers such as "H430"


def _word_char(c: str) -> bool:
    return c.isalnum()


def clean_osis(raw: str) -> CleanVerse:
    """OSIS markup -> clean text with one Strong's set per whitespace word.

    Spaces go in at tag boundaries between two word characters (so punctuation keeps
    its place), never at the edges of inline tags that can split a word, and after a line
    break or a removed note when a word or an opening quote follows.
    """
    chars: list[str] = []
    tags: list[frozenset] = []
    drop_depth = 0
    lemma_stack: list[frozenset] = []
    boundary = False          # a tag sat between the last emitted char and the next
    boundary_block = False    # ... and it was not a purely inline tag
    boundary_break = False    # ... and it was a line or paragraph break
    pos = 0
    raw = raw.replace("\r", " ")
    for m in list(_TAG.finditer(raw)) + [None]:
        text = raw[pos : m.start()] if m else raw[pos:]
        if text and drop_depth == 0:
            text = html.unescape(text)
            glued = boundary_block and chars and _word_char(chars[-1]) and _word_char(text[0])
            broken = boundary_break and chars and not chars[-1].isspace() \
                and (_word_char(text[0]) or text[0] in _OPENING)
            if boundary and (glued or broken):
                chars.append(" ")
                tags.append(frozenset())
            current = lemma_stack[-1] if lemma_stack else frozenset()
            chars.extend(text)
            tags.extend([current] * len(text))
            boundary = boundary_block = boundary_break = False
        if m is None:
            break
        pos = m.end()
        closing, name, attrs, selfclose = m.group(1), m.group(2), m.group(3), m.group(4)
        boundary = True
        if name not in _INLINE:
            boundary_block = True
        if name in _BREAKS:
            boundary_break = True
        if name in _DROP or (name == "title" and "canonical=\"true\"" not in attrs):
            if selfclose:
                continue
            drop_depth += -1 if closing else 1
            drop_depth = max(drop_depth, 0)
            boundary_block = boundary_break = True
            continue
        if name == "w" and not selfclose:
            if closing:
                if lemma_stack:
                    lemma_stack.pop()
                # a word ends here: two <w> elements touching are two words
                boundary_block = True
            else:
                found = frozenset(f"{k}{n}" for k, n in _LEMMA.findall(attrs))
                lemma_stack.append(found)
                boundary_block = True
    # normalise: NFC, one space for any run of whitespace (punctuation stays where the source put it)
    out_chars: list[str] = []
    out_tags: list[frozenset] = []
    for c, t in zip(chars, tags):
        c = unicodedata.normalize("NFC", c)
        if c.isspace():
            if out_chars and out_chars[-1] != " ":
                out_chars.append(" ")
                out_tags.append(frozenset())
            continue
        out_chars.append(c)
        out_tags.append(t)
    while out_chars and out_chars[-1] == " ":
        out_chars.pop()
        out_tags.pop()
    text = "".join(out_chars)
    words, strongs = [], []
    for wm in re.finditer(r"\S+", text):
        words.append(wm.group())
        s = frozenset().union(*out_tags[wm.start() : wm.end()])
        strongs.append(s)
    return CleanVerse(text=text, words=tuple(words), strongs=tuple(strongs))


def reference_links(en: CleanVerse, es: CleanVerse) -> list[tuple[int, int]]:
    """(spanish word j, english word i) pairs sharing a Strong's number: target-major."""
    return [(j, i) for j, sj in enumerate(es.strongs) if sj
            for i, si in enumerate(en.strongs) if si & sj]


def split_of(chapter_number: int) -> str:
    k = chapter_number % 20
    return "dev" if k == 7 else "test" if k == 17 else "train"


def read_bible_pairs(sword_dir: Path = SWORD_DIR):
    """Yield dicts (ref, split, en CleanVerse, es CleanVerse) for every verse both Bibles have."""
    try:
        from pysword.modules import SwordModules
    except ImportError as exc:  # pragma: no cover - environment problem
        raise SystemExit("pysword is missing: pip install pysword==0.2.8") from exc
    if not (sword_dir / "mods.d").is_dir():
        raise SystemExit(f"No SWORD modules in {sword_dir}: apt-get install -y sword-text-web sword-text-sparv")
    modules = SwordModules(str(sword_dir))
    found = modules.parse_modules()
    missing = [m for m in (EN_MODULE, ES_MODULE) if m not in found]
    if missing:
        raise SystemExit(f"SWORD modules {missing} missing: apt-get install -y sword-text-web sword-text-sparv")
    en_bible = modules.get_bible_from_module(EN_MODULE)
    es_bible = modules.get_bible_from_module(ES_MODULE)
    en_books = {b.osis_name: b for t in en_bible.get_structure().get_books().values() for b in t}
    chapter_counter = 0
    sep = "\x1e"  # record separator: never in the text, so verses split back exactly
    for testament in ("ot", "nt"):
        for book in es_bible.get_structure().get_books()[testament]:
            en_book = en_books.get(book.osis_name)
            for chapter in range(1, book.num_chapters + 1):
                chapter_counter += 1
                split = split_of(chapter_counter)
                if en_book is None or chapter > en_book.num_chapters:
                    continue
                n = min(book.chapter_lengths[chapter - 1], en_book.chapter_lengths[chapter - 1])
                verses = list(range(1, n + 1))
                es_raw = es_bible.get(books=[book.osis_name], chapters=[chapter], verses=verses,
                                      clean=False, join=sep).split(sep)
                en_raw = en_bible.get(books=[book.osis_name], chapters=[chapter], verses=verses,
                                      clean=False, join=sep).split(sep)
                for v, (e, s) in enumerate(zip(en_raw, es_raw), start=1):
                    yield {"ref": f"{book.osis_name} {chapter}:{v}", "split": split,
                           "en": clean_osis(e), "es": clean_osis(s)}


def keep_pair(en: CleanVerse, es: CleanVerse, max_words: int = 80) -> bool:
    """Drop empty verses, very long ones, and pairs whose lengths disagree (versification shifts)."""
    a, b = len(en.words), len(es.words)
    if a == 0 or b == 0 or a > max_words or b > max_words:
        return False
    return 0.5 <= b / a <= 2.0


def build(out: Path = DATA, vocab: int = 4000, sword_dir: Path = SWORD_DIR) -> dict:
    import sentencepiece as spm

    out.mkdir(parents=True, exist_ok=True)
    counts = {"train": 0, "dev": 0, "test": 0, "dropped": 0}
    files = {s: open(out / f"{s}.tsv", "w", encoding="utf-8") for s in ("train", "dev", "test")}
    align = {s: open(out / f"{s}.align.jsonl", "w", encoding="utf-8") for s in ("dev", "test")}
    try:
        for pair in read_bible_pairs(sword_dir):
            en, es, split = pair["en"], pair["es"], pair["split"]
            if not keep_pair(en, es):
                counts["dropped"] += 1
                continue
            counts[split] += 1
            files[split].write(f"{en.text}\t{es.text}\t{pair['ref']}\n")
            if split in align:
                align[split].write(json.dumps({
                    "ref": pair["ref"], "en": en.text, "es": es.text,
                    "links": reference_links(en, es),  # (es word j, en word i)
                    "es_tagged": [bool(s) for s in es.strongs],
                }, ensure_ascii=False) + "\n")
    finally:
        for f in (*files.values(), *align.values()):
            f.close()
    train = [line.split("\t") for line in (out / "train.tsv").read_text(encoding="utf-8").splitlines()]
    for side, col in (("en", 0), ("es", 1)):
        (out / f"train.{side}.txt").write_text("\n".join(r[col] for r in train) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(out / f"train.{side}.txt"), model_prefix=str(out / f"spm.{side}"),
            vocab_size=vocab, model_type="unigram", character_coverage=1.0,
            pad_id=0, unk_id=1, bos_id=2, eos_id=3, num_threads=2, minloglevel=2,
        )
    write_sample(out)
    info = {**counts, "vocab": vocab, "sources": [EN_MODULE, ES_MODULE],
            "split": "by chapter: chapter k (numbered through the Bible) -> dev if k%20==7, test if k%20==17"}
    (out / "corpus.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


SAMPLE = ROOT / "assets" / "translation-test-verses.jsonl"


def write_sample(data: Path = DATA, out: Path = SAMPLE, n: int = 150, max_words: int = 30) -> int:
    """A few test verses with their reference links, shipped in assets/ for the page's picker
    (data/ is git-ignored): evenly spaced over the test split, short enough to read."""
    items = [json.loads(l) for l in (data / "test.align.jsonl").read_text(encoding="utf-8").splitlines()]
    items = [i for i in items if i["links"] and len(i["en"].split()) <= max_words]
    picked = [items[int(k * len(items) / n)] for k in range(min(n, len(items)))]
    out.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in picked), encoding="utf-8")
    return len(picked)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m corpora.bible")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="read the SWORD modules, clean, split, train sentencepiece")
    b.add_argument("--out", type=Path, default=DATA)
    b.add_argument("--vocab", type=int, default=4000)
    b.add_argument("--sword-dir", type=Path, default=SWORD_DIR)
    sub.add_parser("sample", help=f"write {SAMPLE.name} (test verses for the page) from data/")
    s = sub.add_parser("show", help="print one verse raw and clean, e.g. show Gen 1 1")
    s.add_argument("book")
    s.add_argument("chapter", type=int)
    s.add_argument("verse", type=int)
    args = parser.parse_args(argv)
    if args.cmd == "build":
        info = build(args.out, args.vocab, args.sword_dir)
        print(json.dumps(info, indent=2))
        print(f"wrote {args.out}")
    elif args.cmd == "sample":
        print(f"wrote {write_sample()} test verses to {SAMPLE}")
    else:
        from pysword.modules import SwordModules

        modules = SwordModules(str(SWORD_DIR))
        modules.parse_modules()
        for mod in (EN_MODULE, ES_MODULE):
            raw = modules.get_bible_from_module(mod).get(
                books=[args.book], chapters=[args.chapter], verses=[args.verse], clean=False)
            clean = clean_osis(raw)
            print(f"{mod} raw:   {raw}\n{mod} clean: {clean.text}\n")


if __name__ == "__main__":
    sys.exit(main())
