"""The cleaned Strong's reference, the eflomal reference and the hand check, on hand-made verses."""

import json
from pathlib import Path

import pytest

from corpora import alignment_check
from corpora.bible import DATA, CLEAN_NAME, CleanVerse, clean_links, norm_word, write_clean_reference
from corpora.word_align import align_words, grow_diag_final_and, intersection, link_agreement


def verse(*tagged):
    """CleanVerse from (word, "H1 H2") pairs; "" is an untagged word."""
    words = tuple(w for w, _ in tagged)
    return CleanVerse(" ".join(words), words, tuple(frozenset(t.split()) for _, t in tagged))


def test_norm_word_strips_edge_punctuation_and_keeps_punctuation_words():
    assert [norm_word(w) for w in ["“I", "Abram,", "SIENDO", "ninety-nine", "God’s", "—", "¿Qué"]] == \
        ["i", "abram", "siendo", "ninety-nine", "god’s", "—", "qué"]
    assert align_words("“I am,” — ¿Qué?") == ["i", "am", "—", "qué"]


def test_function_words_are_dropped_and_content_words_kept():
    en = verse(("God", "H430"), ("created", "H1254"), ("the", "H8064"), ("heavens.", "H8064"))
    es = verse(("Dios", "H430"), ("crió", "H1254"), ("los", "H8064"), ("cielos.", "H8064"))
    # raw Strong's links would also give los-the, los-heavens, cielos-the
    assert clean_links(en, es) == [(0, 0), (1, 1), (3, 3)]


def test_untagged_word_is_never_linked_and_tags_must_meet():
    en = verse(("Abram", "H87"), ("fell", "H5307"), ("down", ""), ("praying", ""), ("humbly", ""),
               ("before", ""), ("God", "H430"), ("today", "H3117"), ("there", ""))
    es = verse(("Abram", "H87"), ("cayó", "H5307"), ("orando", "H9999"), ("hoy", ""), ("ante", ""),
               ("Dios", "H430"))
    # English content words: 6, 4 of them tagged (>= 0.5); "orando" carries a number English lacks
    assert clean_links(en, es) == [(0, 0), (1, 1), (5, 6)]


def test_verse_with_too_few_tagged_content_words_is_dropped():
    en = verse(("Abram", "H87"), ("fell", ""), ("down", ""), ("weeping", ""), ("bitterly", ""))
    es = verse(("Abram", "H87"), ("cayó", "H5307"), ("llorando", "H1058"))
    assert clean_links(en, es) is None          # English: 1 of 4 content words tagged
    assert clean_links(en, es, min_tagged=0.2) == [(0, 0)]
    only_function = verse(("and", "H853"), ("the", "H853"))
    assert clean_links(only_function, verse(("y", "H853"), ("la", "H853"))) is None  # no link left


def test_repeated_number_links_each_occurrence_to_its_nearest():
    # "my wrath ... my wrath" / "mi ira ... mi ira": one number, two occurrences a side
    en = verse(("wrath", "H2534"), ("poured", "H5413"), ("out,", ""), ("so", ""), ("wrath", "H2534"),
               ("poured", "H5413"))
    es = verse(("ira", "H2534"), ("derramó,", "H5413"), ("así", ""), ("ira", "H2534"), ("derramará", "H5413"))
    assert clean_links(en, es) == [(0, 0), (1, 1), (3, 4), (4, 5)]


def test_write_clean_reference_format(tmp_path):
    en = verse(("God", "H430"), ("spoke", "H1696"))
    es = verse(("Dios", "H430"), ("habló", "H1696"))
    dropped = verse(("and", ""), ("said", ""))
    info = write_clean_reference([("Gen 1:1", en, es), ("Gen 1:2", dropped, es)], tmp_path / "c.jsonl")
    assert info == {"verses": 1, "dropped": 1, "links": 2}
    rows = [json.loads(l) for l in (tmp_path / "c.jsonl").read_text(encoding="utf-8").splitlines()]
    assert rows == [{"ref": "Gen 1:1", "en": "God spoke", "es": "Dios habló", "links": [[0, 0], [1, 1]]}]


def test_symmetrisation_by_hand():
    fwd = {(0, 0), (1, 1), (2, 1), (0, 1), (4, 4)}   # (source i, target j)
    rev = {(0, 0), (1, 1), (2, 2), (4, 5)}
    assert intersection(fwd, rev) == {(0, 0), (1, 1)}
    # grow: (2, 1) and (2, 2) neighbour (1, 1) and each aligns a new word; (0, 1) neighbours too
    # but both its words are aligned; final-and: (4, 4) joins (both words unaligned, not a
    # neighbour of anything), then (4, 5) does not (source 4 is taken)
    assert grow_diag_final_and(fwd, rev) == {(0, 0), (1, 1), (2, 1), (2, 2), (4, 4)}
    # growing goes on from the points it added: (3, 3) neighbours (2, 2) diagonally
    assert (3, 3) in grow_diag_final_and({(0, 0), (1, 1), (2, 2)}, {(0, 0), (1, 1), (3, 3)})


def test_link_agreement_by_hand():
    pred = {"a": [(0, 0), (1, 1), (2, 2)], "b": [(0, 1)]}
    ref = {"a": [(0, 0), (1, 2)], "b": [(0, 1), (1, 1)]}
    r = link_agreement(pred, ref)
    assert (r["precision"], r["recall"]) == (pytest.approx(2 / 4), pytest.approx(2 / 4))
    assert r["aer"] == pytest.approx(1 - 2 * 2 / (4 + 4))


def test_eflomal_file_has_the_strongs_word_indexing(tmp_path):
    pytest.importorskip("eflomal")
    from corpora.word_align import EFLOMAL_NAME, write_eflomal_reference

    import random

    rng = random.Random(0)
    nouns = {"house": "casa", "dog": "perro", "cat": "gato", "tree": "árbol", "king": "rey"}
    adjectives = {"big": "grande", "red": "rojo", "old": "viejo", "small": "pequeño"}
    verbs = {"sleeps": "duerme", "eats": "come", "sees": "ve", "falls": "cae"}
    pairs = []
    for _ in range(300):   # "the ADJ NOUN — VERB." / "el NOUN ADJ — VERB.": adjectives swap places
        n, a, v = (rng.choice(sorted(d)) for d in (nouns, adjectives, verbs))
        pairs.append((f"The {a} {n} — {v}.", f"El {nouns[n]} {adjectives[a]} — {verbs[v]}."))
    pairs[-1] = ("The big dog — sleeps.", "El perro grande — duerme.")
    for split, rows in (("train", pairs[:-4]), ("dev", pairs[-4:-2]), ("test", pairs[-2:])):
        (tmp_path / f"{split}.tsv").write_text(
            "".join(f"{en}\t{es}\tX {k}:1\n" for k, (en, es) in enumerate(rows)), encoding="utf-8")
    info = write_eflomal_reference(tmp_path)
    assert info["verses"] == 2 and info["trained_on"] == len(pairs)
    rows = [json.loads(l) for l in (tmp_path / EFLOMAL_NAME).read_text(encoding="utf-8").splitlines()]
    assert [r["ref"] for r in rows] == ["X 0:1", "X 1:1"]
    for r in rows:
        n_es, n_en = len(r["es"].split()), len(r["en"].split())
        assert all(0 <= j < n_es and 0 <= i < n_en for j, i in r["links"])  # (es j, en i)
    links = {tuple(l) for l in rows[1]["links"]}  # "The big dog — sleeps." / "El perro grande — duerme."
    assert {(1, 2), (2, 1), (4, 4)} <= links      # perro-dog, grande-big, duerme.-sleeps.: Spanish first


def test_rates_are_recomputed_from_the_judgement_file():
    rows = [json.loads(l) for l in alignment_check.CHECK.read_text(encoding="utf-8").splitlines()]
    assert len({r["ref"] for r in rows}) >= 30
    assert all(r["right"] or r.get("reason") for r in rows)
    assert all(r["raw"] for r in rows if r["clean"])
    r = alignment_check.rates(data=Path("/nonexistent"))
    raw = [x for x in rows if x["raw"]]
    assert r["raw"]["precision"] == pytest.approx(sum(x["right"] for x in raw) / len(raw))
    assert r["clean"]["precision"] > r["raw"]["precision"]


def test_oracle_floor_by_hand():
    verses = [{"links": [(0, 0), (0, 1), (1, 2)]}, {"links": [(0, 0)]}]
    f = alignment_check.oracle_floor(verses)
    assert (f["words"], f["links"]) == (3, 4)
    assert f["aer"] == pytest.approx(1 - 2 * 3 / 7) and f["recall"] == pytest.approx(3 / 4)


@pytest.mark.skipif(not (DATA / CLEAN_NAME).exists(),
                    reason="needs the built corpus: make corpus (Debian's SWORD Bibles)")
def test_judged_verses_match_the_built_corpus():
    rows = [json.loads(l) for l in alignment_check.CHECK.read_text(encoding="utf-8").splitlines()]
    refs = list(dict.fromkeys(r["ref"] for r in rows))
    assert refs == alignment_check.pick()          # the seeded sample is still the same
    built = {(r["ref"], tuple(r["link"])): r for r in alignment_check.verse_links(refs=refs)}
    judged_raw = {(r["ref"], tuple(r["link"])): r for r in rows if r["raw"]}
    assert judged_raw.keys() == built.keys()       # every raw link judged, no stale one
    for key, r in judged_raw.items():
        b = built[key]
        assert (r["es"], r["en"], r["clean"]) == (b["es"], b["en"], b["clean"]), key
    texts = {r["ref"]: r for r in alignment_check.read_jsonl(DATA / "test.align.jsonl")}
    for r in rows:                                 # eflomal-only links: same words at those indices
        v = texts[r["ref"]]
        assert (v["es"].split()[r["link"][0]], v["en"].split()[r["link"][1]]) == (r["es"], r["en"])
