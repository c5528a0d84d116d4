"""The image lab's card readers (models/spatial_cards.py), shared by the page and the report."""

from models.spatial_cards import (PLATEAU_GAIN, best_attention_map, localisation_text, plateau_seeds,
                                  query_independence_text)

PG_CHANCE = {"uniform": 0.14, "centre_prior": 0.36, "shuffled_box": 0.20}
ENERGY_CHANCE = {"uniform": 0.14, "centre_prior": 0.21, "shuffled_box": 0.17}


def card_with_two_maps():
    """Map A points better, map B holds more energy in the box: the best map differs by score."""
    def scores(pg, energy):
        return {"pointing_game": {"map": pg, "chance": PG_CHANCE},
                "energy_in_box": {"map": energy, "chance": ENERGY_CHANCE}}
    return {"localisation": {"scores": {
        "feature_energy (reference, no attention)": scores(1.0, 0.99),   # not an attention map
        "A (mass over queries)": scores(0.98, 0.40),
        "B (unary map)": scores(0.90, 0.49)}},
        "across_seeds": {"localisation.scores.B (unary map).energy_in_box.map":
                         {"mean": 0.49, "sd": 0.01, "values": [0.48, 0.50]}}}


def test_the_best_map_is_chosen_per_score_and_the_reference_map_never():
    card = card_with_two_maps()
    assert best_attention_map(card, "pointing_game")[0] == "A (mass over queries)"
    assert best_attention_map(card, "energy_in_box")[0] == "B (unary map)"
    assert best_attention_map({}, "pointing_game") is None
    assert localisation_text({"localisation": {"scores": {}}}, "energy_in_box") is None


def test_each_score_stands_beside_its_own_chance_levels():
    card = card_with_two_maps()
    assert localisation_text(card, "pointing_game") == (
        "0.980 (chance: uniform 0.14, centre 0.36, shuffled box 0.20)")
    assert localisation_text(card, "energy_in_box", with_name=True) == (
        "0.490 ± 0.010 (2 seeds) [B (unary map)] (chance: uniform 0.14, centre 0.21, shuffled box 0.17)")
    card["localisation"]["scores"]["A (mass over queries)"]["pointing_game"]["chance"] = {"uniform": 0.5}
    assert localisation_text(card, "pointing_game") == "0.980 (chance: uniform 0.50)"   # only the levels it has


def test_plateau_seeds_count_gains_below_the_rule_and_missing_ones_as_not_met():
    gains = [0.0, PLATEAU_GAIN - 1e-4, PLATEAU_GAIN, 0.02]
    card = {"across_seeds": {"plateau.last_epoch_gain": {"values": gains}}}
    assert plateau_seeds(card) == (2, 4)                     # at the threshold is not below it
    assert plateau_seeds({"plateau": {"last_epoch_gain": 0.001}}) == (1, 1)
    assert plateau_seeds({}) == (0, 1)                        # a card with no curve met nothing


def test_query_independence_stands_beside_random_weights_when_the_card_has_them():
    card = {"query_independence": {"score": {"dnl.pairwise": 0.6}, "chance": {"random_weights": {"dnl.pairwise": 1.0}}}}
    assert query_independence_text(card) == "0.600 (random weights 1.000)"
    card["query_independence"]["chance"] = {}
    assert query_independence_text(card) == "0.600"
    assert query_independence_text({}) is None
