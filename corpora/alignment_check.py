"""Hand check of the Strong's reference links on a seeded random sample of test verses.

The judgements live in corpora/alignment_check.jsonl, one line per link of each checked
verse that the raw Strong's reference or eflomal (one run) makes:
    {"ref", "link": [es word j, en word i], "es": word, "en": word,
     "raw": a raw Strong's link, "clean": in the cleaned reference, "right": bool,
     "reason": why not (wrong links only; specific for the cleaned and eflomal-only links,
     generic for the raw links that the cleaning drops)}
A link is right when the two words translate each other in this verse. Where a phrase
splits word by word, only the word pairs count (llevó = carried, not cautiverio = carried).
Also right, as word aligners' guidelines have it:
  - a word and each word of a multi-word expression it translates as a whole ("ázimos" and
    "unleavened bread", "de repente" and "suddenly", "lo que" and "which");
  - a Spanish word with an enclitic pronoun and that pronoun ("enséñame" and "me"); an
    English genitive and "de" ("uncle's" and "de mi tío"); a phrasal verb's particle and
    the verb ("sacaré" and "out" of "bring out"); a tense or passive auxiliary and the verb
    it forms ("había venido" and "came"); a Spanish verb and the English subject pronoun
    when Spanish has no subject word ("clamó" and "She");
  - two words that render the same source word in this verse, even freely ("juntado" and
    "come", "ahora" and "Please", "dicho" and "word").
Wrong: words of different occurrences (the second "wrath" for the first "ira"), a word and
its neighbour in a phrase the tag covers ("hablar" and "peaceably"), articles, objects
markers and conjunctions tied to content words.

    python -m corpora.alignment_check pick       # the sample's refs (seeded)
    python -m corpora.alignment_check show       # each verse with its raw links as word pairs
    python -m corpora.alignment_check rates      # precision of raw, cleaned and eflomal links
    python -m corpora.alignment_check agreement  # eflomal vs the cleaned links, all test verses
    python -m corpora.alignment_check floors     # each reference's oracle AER floor
"""

from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

from corpora.bible import CLEAN_NAME, DATA

CHECK = Path(__file__).with_name("alignment_check.jsonl")
SEED, N_VERSES = 10, 30


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(l) for l in path.read_text(encoding="utf-8").splitlines() if l.strip()]


def pick(data: Path = DATA, n: int = N_VERSES, seed: int = SEED) -> list[str]:
    """n refs drawn (seeded) from the test verses the cleaning keeps, in corpus order, so that
    raw and cleaned links are compared on the same verses."""
    refs = [r["ref"] for r in read_jsonl(data / CLEAN_NAME)]
    chosen = set(random.Random(seed).sample(refs, n))
    return [r for r in refs if r in chosen]


def verse_links(data: Path = DATA, refs=None) -> list[dict]:
    """The judged links as the built corpus has them now: ref, link, es, en, clean."""
    raw = {r["ref"]: r for r in read_jsonl(data / "test.align.jsonl")}
    clean = {r["ref"]: {tuple(l) for l in r["links"]} for r in read_jsonl(data / CLEAN_NAME)}
    out = []
    for ref in refs if refs is not None else pick(data):
        v = raw[ref]
        en, es = v["en"].split(), v["es"].split()
        for j, i in v["links"]:
            out.append({"ref": ref, "link": [j, i], "es": es[j], "en": en[i],
                        "clean": (j, i) in clean.get(ref, set())})
    return out


def show(data: Path = DATA) -> None:
    for ref in pick(data):
        v = next(r for r in read_jsonl(data / "test.align.jsonl") if r["ref"] == ref)
        print(f"\n== {ref}\nEN: {v['en']}\nES: {v['es']}")
        for row in verse_links(data, [ref]):
            mark = "C" if row["clean"] else " "
            print(f"  {mark} {row['link'][0]:>2}-{row['link'][1]:<2} {row['es']} -- {row['en']}")


def _precision(rows) -> dict:
    right = sum(r["right"] for r in rows)
    return {"links": len(rows), "right": right, "precision": right / len(rows) if rows else float("nan")}


def rates(check: Path = CHECK, data: Path | None = None) -> dict:
    """Precision of the raw and the cleaned Strong's links on the judged verses (from the
    judgement file alone); with the built data, eflomal's links on the same verses too
    (eflomal samples: a new run may make a few links nobody judged, counted apart)."""
    from corpora.bible import EN_STOP, ES_STOP, content_words

    rows = read_jsonl(check)
    refs = list(dict.fromkeys(r["ref"] for r in rows))
    raw = [r for r in rows if r["raw"]]
    out = {"verses": len(refs), "raw": _precision(raw), "clean": _precision([r for r in rows if r["clean"]])}
    eflomal_file = (data or DATA) / "test.align.eflomal.jsonl"
    if eflomal_file.exists():
        judged = {(r["ref"], tuple(r["link"])): r for r in rows}
        ef = {r["ref"]: r for r in read_jsonl(eflomal_file)}
        mine, content, unjudged = [], [], 0
        for ref in refs:
            v = ef[ref]
            en_c = set(content_words(v["en"].split(), EN_STOP))
            es_c = set(content_words(v["es"].split(), ES_STOP))
            for j, i in v["links"]:
                row = judged.get((ref, (j, i)))
                if row is None:
                    unjudged += 1
                    continue
                mine.append(row)
                if j in es_c and i in en_c:
                    content.append(row)
        found = {(r["ref"], tuple(r["link"])) for r in mine}
        right_raw = [(r["ref"], tuple(r["link"])) for r in raw if r["right"]]
        right_clean = [(r["ref"], tuple(r["link"])) for r in rows if r["clean"] and r["right"]]
        out["eflomal"] = {**_precision(mine), "not_judged": unjudged,
                          "content_words": _precision(content),
                          "recall_of_right_strongs_links": sum(k in found for k in right_raw) / len(right_raw),
                          "recall_of_right_clean_links": sum(k in found for k in right_clean) / len(right_clean)}
    return out


def oracle_floor(verses) -> dict:
    """What an oracle that follows a reference scores under analysis.alignment's rule of one
    argmax link per scored target word (a word with at least one link): every argmax link is
    right (precision 1) but only one link per word is made, so recall = W / |S| and
    AER = 1 - 2W / (W + |S|) for W scored words and |S| links. The reference's own floor:
    no attention can score a lower AER against it."""
    words = links = 0
    for v in verses:
        words += len({j for j, _ in v["links"]})
        links += len(v["links"])
    return {"words": words, "links": links, "links_per_word": links / words,
            "recall": words / links, "aer": 1 - 2 * words / (words + links)}


def floors(data: Path = DATA) -> dict:
    """The oracle floor of every reference file of the test split that is there."""
    out = {}
    for name in ("test.align.jsonl", CLEAN_NAME, "test.align.eflomal.jsonl"):
        if (data / name).exists():
            out[name] = oracle_floor(read_jsonl(data / name))
    return out


def agreement(data: Path = DATA) -> dict:
    """eflomal's links against the cleaned Strong's links, on the verses the cleaning keeps."""
    from corpora.word_align import EFLOMAL_NAME, agreement as agree, read_align

    return agree(read_align(data / EFLOMAL_NAME), read_align(data / CLEAN_NAME))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m corpora.alignment_check")
    parser.add_argument("cmd", choices=("pick", "show", "rates", "floors", "agreement"))
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args(argv)
    if args.cmd == "pick":
        print("\n".join(pick(args.data)))
    elif args.cmd == "show":
        show(args.data)
    elif args.cmd == "floors":
        print(json.dumps(floors(args.data), indent=2))
    elif args.cmd == "agreement":
        print(json.dumps(agreement(args.data), indent=2))
    else:
        print(json.dumps(rates(CHECK, args.data), indent=2))


if __name__ == "__main__":
    sys.exit(main())
