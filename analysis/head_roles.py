"""What each head of a decoder LLM does, measured on a probe, beside its chance level.

The probe (Olsson et al. 2022, "In-context Learning and Induction Heads"): a start token
then n random tokens r_1..r_n, then the same n tokens again; length T = 2n + 1, positions
0 (start), 1..n (first copy), n+1..2n (second copy). For query i the scores read one key:

    induction       i in n+1..2n:  A[i, i - n + 1]   the token that followed this token's
                                                     previous occurrence
    duplicate token i in n+1..2n:  A[i, i - n]       the previous occurrence itself
    previous token  i in 1..2n:    A[i, i - 1]
    sink            i in 0..2n:    A[i, 0]           the start token

each averaged over its queries. Chance is what uniform causal attention gives on the same
queries: mean over them of 1/(i + 1). Every score is computed from the captured queries
and keys (models/pretrained/llm_capture.py), in row chunks.
"""

from __future__ import annotations

import torch

from models.pretrained import llm_capture as lc

PROBE_TOKENS = 50          # random tokens per copy of the probe the Roles tab and train.induction use
PROBE_SEEDS = (0, 1, 2, 3)

ROLES = {
    "induction": "attention to the token after the previous occurrence (Olsson et al. 2022)",
    "duplicate": "attention to the previous occurrence of the same token",
    "previous": "attention to the previous token",
    "sink": "attention to the first token",
}


def probe_ids(vocab_size: int, n: int, seed: int, start: int | None, avoid=()) -> torch.Tensor:
    """(2n + 1,) ids: ``start`` (or a random token), then n seeded random tokens twice.
    Tokens in ``avoid`` (special tokens) are not drawn, and none repeats within a copy, so
    "previous occurrence" is unambiguous."""
    if n < 2:
        raise ValueError("the probe needs at least 2 tokens per copy")
    pool = torch.tensor([t for t in range(vocab_size) if t not in set(avoid)])
    if len(pool) < n + 1:
        raise ValueError(f"a vocabulary of {len(pool)} usable tokens is too small for a probe of {n}")
    g = torch.Generator().manual_seed(seed)
    drawn = pool[torch.randperm(len(pool), generator=g)[:n + 1]]
    first = torch.tensor([start]) if start is not None else drawn[n:]
    copy = drawn[:n]
    return torch.cat([first, copy, copy])


def _queries(role: str, n: int) -> range:
    return {"induction": range(n + 1, 2 * n + 1), "duplicate": range(n + 1, 2 * n + 1),
            "previous": range(1, 2 * n + 1), "sink": range(0, 2 * n + 1)}[role]


def chance(role: str, n: int) -> float:
    """Uniform causal attention's score: mean over the role's queries i of 1/(i + 1)."""
    qs = _queries(role, n)
    return sum(1.0 / (i + 1) for i in qs) / len(qs)


def role_scores(captured: lc.Captured, n: int) -> dict[str, torch.Tensor]:
    """{role: (layers, heads)} on a probe captured with ``probe_ids(..., n, ...)``."""
    if captured.n_tokens != 2 * n + 1:
        raise ValueError(f"a probe of {n} tokens per copy has {2 * n + 1} tokens, got {captured.n_tokens}")
    return {"induction": lc.offset_scores(captured, offset=n - 1, first=2),
            "duplicate": lc.offset_scores(captured, offset=n, first=1),
            "previous": lc.offset_scores(captured, offset=1, first=0),
            "sink": lc.head_statistics(captured)["sink"]}


def measure_roles(model, vocab_size: int, start: int | None, avoid=(), n: int = PROBE_TOKENS,
                  seeds=PROBE_SEEDS, labels=None) -> tuple[dict[str, torch.Tensor], lc.Captured]:
    """Each role's score per head, the mean over probes of several seeds, and the first
    probe's capture (to show a head on it), its tokens labelled by ``labels(ids)``."""
    total, first = None, None
    for seed in seeds:
        ids = probe_ids(vocab_size, n, seed, start, avoid)
        _, captured = lc.capture(model, ids, logits_to_keep=1,
                                 tokens=labels(ids.tolist()) if labels and first is None else None)
        scores = role_scores(captured, n)
        total = scores if total is None else {k: total[k] + v for k, v in scores.items()}
        first = first or captured
    return {k: v / len(seeds) for k, v in total.items()}, first
