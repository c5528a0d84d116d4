"""Reading the image lab's cards (written by python -m train spatial / experiment spatial):
the one place that turns a card's localisation, baseline comparison and plateau into text,
so the page's table and ``python -m train spatial --report`` cannot disagree.
"""

from __future__ import annotations

from models.cards import across_seeds_text, seed_values

# The plateau rule of train/spatial.py: the last epoch's validation accuracy less than this
# above the best epoch before it.
PLATEAU_GAIN = 0.005

# The reference map train/spatial.evaluate scores beside the attention maps: where stage-1
# features are strongest, in every net, attention or not.
FEATURE_ENERGY_MAP = "feature_energy (reference, no attention)"


def attention_maps(by_map: dict) -> dict:
    """A card's per-map entries without the feature-energy reference, which is no attention map."""
    return {k: v for k, v in by_map.items() if k != FEATURE_ENERGY_MAP}


def best_attention_map(card: dict, score: str) -> tuple[str, dict] | None:
    """The attention map (by name) whose sign-aware ``score`` ("pointing_game" or
    "energy_in_box") is highest, with that score's entry (``map`` and ``chance``)."""
    scores = {k: v[score] for k, v in attention_maps(card.get("localisation", {}).get("scores", {})).items()}
    if not scores:
        return None
    return max(scores.items(), key=lambda kv: kv[1]["map"])


def localisation_text(card: dict, score: str, *, with_name: bool = False) -> str | None:
    """The best map's sign-aware score (mean ± sd over seeds where the card has them), the
    map's name if asked, and the score's chance levels: a uniform map, a centre prior, and
    the same map against a shuffled scene's box."""
    best = best_attention_map(card, score)
    if best is None:
        return None
    name, entry = best
    value = across_seeds_text(card, f"localisation.scores.{name}.{score}.map", entry["map"])
    chance = ", ".join(f"{label} {entry['chance'][key]:.2f}" for key, label in
                       (("uniform", "uniform"), ("centre_prior", "centre"), ("shuffled_box", "shuffled box"))
                       if key in entry["chance"])
    return f"{value}{f' [{name}]' if with_name else ''} (chance: {chance})"


def against_baseline_text(card: dict) -> str | None:
    """The arm's accuracy minus the baseline's, paired by seed (train.spatial.compare_arms):
    mean ± sd of the differences, on how many seeds it is ahead, the paired t-test's p."""
    cmp = card.get("comparison", {}).get("against_baseline", {}).get("across_seeds")
    if not cmp:
        return None
    if cmp["seeds"] == 1:
        return f"{cmp['mean_difference']:+.3f} (1 seed)"
    p = cmp.get("t_test_p_value")
    return (f"{cmp['mean_difference']:+.3f} ± {cmp['sd_difference']:.3f}, ahead on {cmp['a_better_on']}/"
            f"{cmp['seeds']} seeds" + (f", p = {p:.2g}" if p is not None else ""))


def plateau_seeds(card: dict) -> tuple[int, int]:
    """How many of the card's seeds met the plateau rule, out of how many."""
    gains = seed_values(card, "plateau.last_epoch_gain") or [card.get("plateau", {}).get("last_epoch_gain")]
    return sum(g is not None and g < PLATEAU_GAIN for g in gains), len(gains)


def query_independence_text(card: dict) -> str | None:
    """Query independence (mean ± sd over seeds) beside the value for maps from random weights."""
    qi = card.get("query_independence", {})
    name, value = next(iter(qi.get("score", {}).items()), (None, None))
    text = across_seeds_text(card, f"query_independence.score.{name}", value)
    random_qi = qi.get("chance", {}).get("random_weights", {}).get(name)
    if text is not None and random_qi is not None:
        text += f" (random weights {random_qi:.3f})"
    return text
