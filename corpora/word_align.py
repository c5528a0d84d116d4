"""A statistical word alignment of the Bible verse pairs: eflomal (Östling & Tiedemann 2016).

eflomal is a Bayesian IBM1 -> HMM -> HMM+fertility aligner trained by collapsed Gibbs
sampling. It is trained here on every verse pair of the corpus (train + dev + test:
alignment is unsupervised, so aligning the test verses with the rest is what word aligners
are for), in both directions, and the two directions are symmetrised.

Words: the whitespace words of the clean verse text, each lowercased with its leading and
trailing punctuation stripped (``corpora.bible.norm_word``); a word of punctuation only
stays a token. So word k of the aligner's input is word k of ``text.split()``, the indexing
of the Strong's links, and one scorer reads both files.

Symmetrisation: grow-diag-final-and (Koehn et al. 2003) by default: start from the links
both directions agree on, add neighbouring links from either direction that align a word
still unaligned, then any link of either direction between two unaligned words. Intersection
alone is precise but leaves most Spanish words unlinked, and the attention scores only
score target words that have a reference link; grow-diag-final-and links nearly every word
at a small cost in precision (docs/alignment_reference.md has both measured).

eflomal seeds its sampler from /dev/urandom: two runs differ in a few links; the
agreement numbers in docs/alignment_reference.md move in the third decimal.

    python -m corpora.bible eflomal [--symmetrise intersection] [--threads 1]
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from corpora.bible import CLEAN_NAME, DATA, norm_word

EFLOMAL_NAME = "test.align.eflomal.jsonl"
NEIGHBOURS = ((-1, 0), (0, -1), (1, 0), (0, 1), (-1, -1), (-1, 1), (1, -1), (1, 1))


def align_words(text: str) -> list[str]:
    """The aligner's tokens: one per whitespace word of ``text``."""
    return [norm_word(w) for w in text.split()]


def intersection(fwd, rev) -> set[tuple[int, int]]:
    return set(fwd) & set(rev)


def grow_diag_final_and(fwd, rev) -> set[tuple[int, int]]:
    """Koehn et al.'s grow-diag-final-and over (source i, target j) links of two directions."""
    fwd, rev = set(fwd), set(rev)
    union = fwd | rev
    links = fwd & rev
    src_done = {i for i, _ in links}
    tgt_done = {j for _, j in links}
    grown = True
    while grown:
        grown = False
        for i, j in sorted(links):
            for di, dj in NEIGHBOURS:
                p = (i + di, j + dj)
                if p in union and p not in links and (p[0] not in src_done or p[1] not in tgt_done):
                    links.add(p)
                    src_done.add(p[0])
                    tgt_done.add(p[1])
                    grown = True
    for direction in (fwd, rev):  # final-and: a link whose two words are both still unaligned
        for i, j in sorted(direction):
            if i not in src_done and j not in tgt_done:
                links.add((i, j))
                src_done.add(i)
                tgt_done.add(j)
    return links


SYMMETRISE = {"grow-diag-final-and": grow_diag_final_and, "intersection": intersection}


def _read_links(path: Path) -> list[set[tuple[int, int]]]:
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        out.append({tuple(int(x) for x in link.split("-")) for link in line.split()})
    return out


def eflomal_links(src: list[list[str]], tgt: list[list[str]], threads: int = 1,
                  n_samplers: int = 3) -> tuple[list[set], list[set]]:
    """Forward and reverse (source i, target j) links per sentence pair from eflomal."""
    import eflomal

    if len(src) != len(tgt):
        raise ValueError(f"{len(src)} source sentences but {len(tgt)} target sentences")
    old = os.environ.get("OMP_NUM_THREADS")
    os.environ["OMP_NUM_THREADS"] = str(threads)  # eflomal's samplers are OpenMP threads
    try:
        with tempfile.TemporaryDirectory() as tmp:
            fwd, rev = Path(tmp) / "fwd", Path(tmp) / "rev"
            eflomal.Aligner(model=3, n_samplers=n_samplers).align(
                [" ".join(s) + "\n" for s in src], [" ".join(t) + "\n" for t in tgt],
                links_filename_fwd=str(fwd), links_filename_rev=str(rev), quiet=True)
            return _read_links(fwd), _read_links(rev)
    finally:
        if old is None:
            os.environ.pop("OMP_NUM_THREADS", None)
        else:
            os.environ["OMP_NUM_THREADS"] = old


def align_corpus(en: list[str], es: list[str], threads: int = 1) -> dict[str, list[list[tuple[int, int]]]]:
    """One eflomal run, symmetrised both ways: method -> links per verse, as (spanish word j,
    english word i), the order of the Strong's links."""
    fwd, rev = eflomal_links([align_words(t) for t in en], [align_words(t) for t in es], threads)
    return {name: [sorted((j, i) for i, j in sym(f, r)) for f, r in zip(fwd, rev)]
            for name, sym in SYMMETRISE.items()}


def _read_tsv(path: Path) -> list[list[str]]:
    return [line.split("\t") for line in path.read_text(encoding="utf-8").splitlines()]


def write_eflomal_reference(data: Path = DATA, method: str = "grow-diag-final-and",
                            threads: int = 1) -> dict:
    """Align train + dev + test, write the test verses' links (symmetrised by ``method``) to
    data/EFLOMAL_NAME, and score both symmetrisations against the cleaned Strong's links
    when that file is there."""
    rows = [r for split in ("train", "dev", "test") for r in _read_tsv(data / f"{split}.tsv")]
    test = _read_tsv(data / "test.tsv")
    by_method = {name: links[len(rows) - len(test):]
                 for name, links in align_corpus([r[0] for r in rows], [r[1] for r in rows], threads).items()}
    with open(data / EFLOMAL_NAME, "w", encoding="utf-8") as f:
        for (en, es, ref), ls in zip(test, by_method[method]):
            f.write(json.dumps({"ref": ref, "en": en, "es": es, "links": ls}, ensure_ascii=False) + "\n")
    info = {"file": EFLOMAL_NAME, "verses": len(test), "symmetrise": method, "trained_on": len(rows),
            "links": sum(len(ls) for ls in by_method[method])}
    if (data / CLEAN_NAME).exists():
        clean = read_align(data / CLEAN_NAME)
        for name, links in by_method.items():
            pred = {ref: {"ref": ref, "en": en, "es": es, "links": ls} for (en, es, ref), ls in zip(test, links)}
            info[f"vs_clean_strongs[{name}]"] = agreement(pred, clean)
    return info


def read_align(path: Path) -> dict[str, dict]:
    """ref -> verse of an align jsonl file (ref, en, es, links)."""
    return {r["ref"]: r for r in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


def link_agreement(pred, ref) -> dict:
    """Precision, recall and AER (sure links only) of link sets ``pred`` against ``ref``,
    micro-averaged over verses: dicts ref -> links."""
    both = n_pred = n_ref = 0
    for key, r in ref.items():
        p = {tuple(x) for x in pred.get(key, ())}
        r = {tuple(x) for x in r}
        both += len(p & r)
        n_pred += len(p)
        n_ref += len(r)
    nan = float("nan")
    return {"precision": both / n_pred if n_pred else nan, "recall": both / n_ref if n_ref else nan,
            "aer": 1 - 2 * both / (n_pred + n_ref) if n_pred + n_ref else nan,
            "verses": len(ref), "pred_links": n_pred, "ref_links": n_ref}


def agreement(pred: dict, ref: dict) -> dict:
    """eflomal against the cleaned Strong's links on the verses the cleaned file keeps: all of
    eflomal's links, and only those between two content words (the cleaned reference never
    links a function word, so the second is the fairer precision)."""
    from corpora.bible import EN_STOP, ES_STOP, content_words

    common = {k: v["links"] for k, v in ref.items() if k in pred}
    all_links = {k: pred[k]["links"] for k in common}
    content = {}
    for k in common:
        v = pred[k]
        en_c = set(content_words(v["en"].split(), EN_STOP))
        es_c = set(content_words(v["es"].split(), ES_STOP))
        content[k] = [(j, i) for j, i in v["links"] if j in es_c and i in en_c]
    return {"all": link_agreement(all_links, common), "content_words": link_agreement(content, common)}
