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
On 30 hand-checked test verses about one raw link in five is right. Two references that
can be trusted go beside it (docs/alignment_reference.md): the cleaned Strong's links
(``clean_links``: content words tagged on both sides, one link per occurrence of a
number, verses with missing tags dropped), test.align.clean.jsonl; and eflomal's
statistical alignment of the whole corpus (corpora/word_align.py), test.align.eflomal.jsonl.

Split. By chapter, never by verse: chapters are numbered through the whole Bible
and chapter k goes to dev when k % 20 == 7, to test when k % 20 == 17, else train.
Test verses are therefore never in training and come from every book.

Subwords. Two sentencepiece unigram models (English, Spanish), trained on the
training split only.

CLI:
    python -m corpora.bible build [--out data/translation] [--vocab 4000]
    python -m corpora.bible clean       # data/translation/test.align.clean.jsonl from a build
    python -m corpora.bible eflomal     # data/translation/test.align.eflomal.jsonl (eflomal)
    python -m corpora.bible sample      # assets/translation-test-verses.jsonl (a build leaves it)
    python -m corpora.bible verses      # assets/web-verses.tsv (a build leaves it)
    python -m corpora.bible show Gen 1 1
"""

from __future__ import annotations

import argparse
import html
import importlib.util
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


# --- The cleaned reference -------------------------------------------------------------
# Function words carry the most wrong links: WEB spreads a verse's tags over pronouns and
# auxiliaries ("Also delight yourself in Yahweh, and he will": "Also", "and", "he", "will" all
# carry H3068, Yahweh) and RV tags whole phrases ("Pon asimismo tu delicia en": H5921, "on").
# A word is a function word when its normalised form (``norm_word``) is in these lists:
# articles, pronouns and possessives, prepositions, conjunctions, auxiliaries and copulas,
# negation and a few adverbs of degree. RV 1909 writes the prepositions and conjunctions
# "á", "é", "ó", "ú" with an accent; they are listed as written.
EN_STOP = frozenset("""
a an the this that these those
i me my mine myself we us our ours ourselves you your yours yourself yourselves he him his
himself she her hers herself it its itself they them their theirs themselves who whom whose
which what whoever whatever
and or but nor so yet for if because though although whether than then as
of to in on at by with from into onto upon unto out up down over under about through among
before after against without within
is am are was were be been being have has had having do does did will would shall should
may might can could must let
not no also even all any each every some such very too only just again when where while there
here o oh ah alas
""".split())
ES_STOP = frozenset("""
el la los las lo un una unos unas al del
yo me mi mis mí conmigo tú te tu tus ti contigo él ella ello ellos ellas le les se su sus sí
consigo nos nosotros nosotras nuestro nuestra nuestros nuestras os vosotros vosotras vuestro
vuestra vuestros vuestras este esta esto estos estas ese esa eso esos esas aquel aquella
aquello aquellos aquellas que qué quien quién quienes cual cuál cuales cuyo cuya cuyos cuyas
y e o u ni pero mas más sino pues porque si como cómo cuando cuándo donde dónde aunque
á é ó ú a de en con por para sin sobre entre hasta desde hacia ante tras según contra
es son era eran fue fué fueron ser sido siendo soy eres somos sois será serán sea sean fuese fuesen fuera fueran
estar está están estaba estaban he ha has han había habían hemos haber hay
no también aun aún todo toda todos todas muy tan ya así oh ah ay
""".split())
MIN_TAGGED = 0.5  # a verse is kept when each side has at least this share of its content words tagged


def norm_word(word: str) -> str:
    """Lower case, leading and trailing punctuation stripped ("“I" -> "i", "Abram," -> "abram");
    a word of punctuation only stays as it is, so the whitespace word indexing never shifts."""
    w = word.lower()
    start, end = 0, len(w)
    while start < end and not w[start].isalnum():
        start += 1
    while end > start and not w[end - 1].isalnum():
        end -= 1
    return w[start:end] or w


def content_words(words, stop) -> list[int]:
    """Indices of words with a letter whose normalised form is not a function word."""
    return [k for k, w in enumerate(words)
            if any(c.isalpha() for c in w) and norm_word(w) not in stop]


def tagged_share(verse: CleanVerse, stop) -> float:
    """Share of the verse's content words that carry a Strong's number (1.0 when it has none)."""
    content = content_words(verse.words, stop)
    return sum(bool(verse.strongs[k]) for k in content) / len(content) if content else 1.0


def _runs(positions: list[int]) -> list[list[int]]:
    """Split sorted word positions into runs; a run allows one word in between ("poured out")."""
    runs: list[list[int]] = []
    for p in positions:
        if runs and p - runs[-1][-1] <= 2:
            runs[-1].append(p)
        else:
            runs.append([p])
    return runs


def clean_links(en: CleanVerse, es: CleanVerse, min_tagged: float = MIN_TAGGED):
    """The Strong's links that survive the cleaning rules, (es word j, en word i), or None
    when the verse is dropped. Rules, in order:

    1. verse: dropped when fewer than ``min_tagged`` of either side's content words carry a
       Strong's number (the tags of that side are missing or misplaced: the words that share
       numbers are then not the words that translate each other);
    2. words: only content words with tags on both sides (function words, ``EN_STOP`` and
       ``ES_STOP``, and untagged words are never linked);
    3. repeats: one Strong's number at several separate places in a verse is several
       occurrences of the source word ("my wrath ... my wrath"); the content words carrying it
       are split into runs (at most one word between two words of a run) and a run is linked
       only to its mutually nearest run on the other side, by relative position in the verse;
    4. verse: dropped when no link is left.
    """
    if tagged_share(en, EN_STOP) < min_tagged or tagged_share(es, ES_STOP) < min_tagged:
        return None
    en_c, es_c = content_words(en.words, EN_STOP), content_words(es.words, ES_STOP)
    numbers = set().union(*(en.strongs[i] for i in en_c), set()) & \
        set().union(*(es.strongs[j] for j in es_c), set())
    n_en, n_es = len(en.words), len(es.words)
    links: set[tuple[int, int]] = set()
    for s in sorted(numbers):
        en_runs = _runs([i for i in en_c if s in en.strongs[i]])
        es_runs = _runs([j for j in es_c if s in es.strongs[j]])
        en_pos = [sum(r) / len(r) / n_en for r in en_runs]
        es_pos = [sum(r) / len(r) / n_es for r in es_runs]
        for a, pa in enumerate(es_pos):
            b = min(range(len(en_pos)), key=lambda k: (abs(en_pos[k] - pa), k))
            if min(range(len(es_pos)), key=lambda k: (abs(es_pos[k] - en_pos[b]), k)) == a:
                links.update((j, i) for j in es_runs[a] for i in en_runs[b])
    return sorted(links) or None


def write_clean_reference(pairs, out: Path) -> dict:
    """Write the cleaned links of (ref, en CleanVerse, es CleanVerse) pairs as align jsonl."""
    kept = dropped = n_links = 0
    with open(out, "w", encoding="utf-8") as f:
        for ref, en, es in pairs:
            links = clean_links(en, es)
            if links is None:
                dropped += 1
                continue
            kept += 1
            n_links += len(links)
            f.write(json.dumps({"ref": ref, "en": en.text, "es": es.text, "links": links},
                               ensure_ascii=False) + "\n")
    return {"verses": kept, "dropped": dropped, "links": n_links}


def split_of(chapter_number: int) -> str:
    k = chapter_number % 20
    return "dev" if k == 7 else "test" if k == 17 else "train"


def read_bible_pairs(sword_dir: Path = SWORD_DIR, splits=("train", "dev", "test")):
    """Yield dicts (ref, split, en CleanVerse, es CleanVerse) for every verse both Bibles have,
    in the chapters of ``splits``."""
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
                if split not in splits or en_book is None or chapter > en_book.num_chapters:
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
    test_pairs = []
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
            if split == "test":
                test_pairs.append((pair["ref"], en, es))
    finally:
        for f in (*files.values(), *align.values()):
            f.close()
    clean = write_clean_reference(test_pairs, out / CLEAN_NAME)
    train = [line.split("\t") for line in (out / "train.tsv").read_text(encoding="utf-8").splitlines()]
    for side, col in (("en", 0), ("es", 1)):
        (out / f"train.{side}.txt").write_text("\n".join(r[col] for r in train) + "\n", encoding="utf-8")
        spm.SentencePieceTrainer.train(
            input=str(out / f"train.{side}.txt"), model_prefix=str(out / f"spm.{side}"),
            vocab_size=vocab, model_type="unigram", character_coverage=1.0,
            pad_id=0, unk_id=1, bos_id=2, eos_id=3, num_threads=2, minloglevel=2,
        )
    # The verse sample and the English verses in assets/ are tracked files: they are written
    # only by `python -m corpora.bible sample` / `verses`, never by a build, because eflomal
    # seeds its sampler from /dev/urandom and every build would rewrite their links.
    eflomal = None
    if importlib.util.find_spec("eflomal") is not None:
        from corpora.word_align import write_eflomal_reference

        eflomal = write_eflomal_reference(out)
    info = {**counts, "eflomal_reference": eflomal, "vocab": vocab, "sources": [EN_MODULE, ES_MODULE], "clean_reference": clean,
            "split": "by chapter: chapter k (numbered through the Bible) -> dev if k%20==7, test if k%20==17"}
    (out / "corpus.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return info


SAMPLE = ROOT / "assets" / "translation-test-verses.jsonl"
VERSES = ROOT / "assets" / "web-verses.tsv"
CLEAN_NAME = "test.align.clean.jsonl"


def clean_existing(data: Path = DATA, sword_dir: Path = SWORD_DIR) -> dict:
    """Write data/CLEAN_NAME for an existing build: re-read only the test chapters (the cleaning
    needs every word's Strong's numbers, which test.align.jsonl does not keep) and check that
    they are the verses of test.align.jsonl, word for word."""
    built = [json.loads(l) for l in (data / "test.align.jsonl").read_text(encoding="utf-8").splitlines()]
    pairs = [(p["ref"], p["en"], p["es"]) for p in read_bible_pairs(sword_dir, splits=("test",))
             if keep_pair(p["en"], p["es"])]
    if [(r["ref"], r["en"], r["es"]) for r in built] != [(r, en.text, es.text) for r, en, es in pairs]:
        raise SystemExit(f"{data}/test.align.jsonl does not match the SWORD modules: rebuild "
                         "with python -m corpora.bible build")
    info = write_clean_reference(pairs, data / CLEAN_NAME)
    corpus = data / "corpus.json"
    if corpus.exists():
        meta = json.loads(corpus.read_text(encoding="utf-8"))
        meta["clean_reference"] = info
        corpus.write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return info


def write_sample(data: Path = DATA, out: Path = SAMPLE, n: int = 150, max_words: int = 30) -> int:
    """A few test verses with their reference links, shipped in assets/ for the page's picker
    (data/ is git-ignored): evenly spaced over the test split, short enough to read. Each
    verse carries "links" (Strong's as tagged) and, when those files exist, "links_clean"
    (the cleaned Strong's links; absent for a verse the cleaning drops) and "links_eflomal"."""
    from corpora.word_align import EFLOMAL_NAME

    items = [json.loads(l) for l in (data / "test.align.jsonl").read_text(encoding="utf-8").splitlines()]
    items = [i for i in items if i["links"] and len(i["en"].split()) <= max_words]
    picked = [items[int(k * len(items) / n)] for k in range(min(n, len(items)))]
    for key, name in (("links_clean", CLEAN_NAME), ("links_eflomal", EFLOMAL_NAME)):
        path = data / name
        if path.is_file():
            by_ref = {i["ref"]: i["links"] for i in map(json.loads, path.read_text(encoding="utf-8").splitlines())}
            for item in picked:
                if item["ref"] in by_ref:
                    item[key] = by_ref[item["ref"]]
    out.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in picked), encoding="utf-8")
    return len(picked)


def write_verses(data: Path = DATA, out: Path = VERSES, n: int = 3000) -> int:
    """English verses of the World English Bible (public domain) for the Corpus page, shipped
    in assets/ (data/ is git-ignored): ``n`` training verses evenly spaced through the Bible,
    already cleaned; one "ref<TAB>text" line each."""
    rows = [line.split("\t") for line in (data / "train.tsv").read_text(encoding="utf-8").splitlines()]
    picked = [rows[int(k * len(rows) / n)] for k in range(min(n, len(rows)))]
    out.write_text("".join(f"{r[2]}\t{r[0]}\n" for r in picked), encoding="utf-8")
    return len(picked)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m corpora.bible")
    sub = parser.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="read the SWORD modules, clean, split, train sentencepiece")
    b.add_argument("--out", type=Path, default=DATA)
    b.add_argument("--vocab", type=int, default=4000)
    b.add_argument("--sword-dir", type=Path, default=SWORD_DIR)
    sub.add_parser("sample", help=f"write {SAMPLE.name} (test verses for the page) from data/")
    sub.add_parser("verses", help=f"write {VERSES.name} (English verses for the Corpus page) from data/")
    c = sub.add_parser("clean", help=f"write {CLEAN_NAME} (the cleaned Strong's links) for an existing build")
    c.add_argument("--data", type=Path, default=DATA)
    c.add_argument("--sword-dir", type=Path, default=SWORD_DIR)
    e = sub.add_parser("eflomal", help="align the whole corpus with eflomal, write test.align.eflomal.jsonl")
    e.add_argument("--data", type=Path, default=DATA)
    e.add_argument("--symmetrise", choices=("grow-diag-final-and", "intersection"),
                   default="grow-diag-final-and")
    e.add_argument("--threads", type=int, default=1, help="eflomal samplers run in parallel (OpenMP)")
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
    elif args.cmd == "verses":
        print(f"wrote {write_verses()} verses to {VERSES}")
    elif args.cmd == "clean":
        print(json.dumps(clean_existing(args.data, args.sword_dir)))
        print(f"wrote {args.data / CLEAN_NAME}")
    elif args.cmd == "eflomal":
        from corpora.word_align import write_eflomal_reference

        print(json.dumps(write_eflomal_reference(args.data, method=args.symmetrise, threads=args.threads)))
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
