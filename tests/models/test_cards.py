import json

from models.cards import card_summary, load_cards


def test_broken_cards_are_reported_not_fatal(tmp_path):
    (tmp_path / "good.json").write_text(json.dumps(
        {"name": "m", "task": "t", "architecture": "a", "source": "s", "page": "P",
         "metrics": {"acc": 0.91234, "b": 1, "c": 2, "d": 3, "e": 4, "nested": {"x": 1}}}))
    (tmp_path / "bad.json").write_text("{not json")
    (tmp_path / "list.json").write_text("[1, 2]")
    (tmp_path / "thin.json").write_text('{"name": "thin"}')
    cards = {c["name"]: c for c in load_cards(tmp_path)}
    assert "unreadable" in cards["bad"]["error"]
    assert "not a JSON object" in cards["list"]["error"]
    assert "lacks" in cards["thin"]["error"]
    row = card_summary(cards["m"])
    assert row["Quality (held-out)"] == "acc: 0.912, b: 1, c: 2, d: 3"
    assert row["Page"] == "P" and row["Note"] == ""


def test_every_committed_card_is_complete():
    cards = load_cards()
    assert cards, "assets/ holds no model cards"
    assert [c["name"] for c in cards if c.get("error")] == []


def test_paired_seed_values_only_for_the_same_seeds_on_both_cards():
    from models.cards import paired_seed_values, seed_spread, seed_values

    def card(seeds, **values):
        return {"seeds": seeds, "across_seeds": {k.replace("_", "."): {"mean": sum(v) / len(v), "sd": 0.0,
                                                                        "values": v} for k, v in values.items()}}

    a = card([0, 1, 2], quality_fid=[1.0, 2.0, 3.0], quality_is=[4.0, 5.0, 6.0])
    b = card([0, 1, 2], quality_fid=[7.0, 8.0, 9.0], quality_is=[1.0, 1.0, 1.0])
    assert seed_values(a, "quality.fid") == [1.0, 2.0, 3.0] and seed_values(a, "quality.none") is None
    assert seed_spread(a, "quality.is")["mean"] == 5.0 and seed_spread({}, "quality.is") == {}
    assert paired_seed_values(a, b, ["quality.fid", "quality.is"]) == {
        "quality.fid": ([1.0, 2.0, 3.0], [7.0, 8.0, 9.0]), "quality.is": ([4.0, 5.0, 6.0], [1.0, 1.0, 1.0])}
    assert paired_seed_values(a, card([0, 1, 3], quality_fid=[7.0, 8.0, 9.0]), ["quality.fid"]) is None
    assert paired_seed_values(card([0], quality_fid=[1.0]), card([0], quality_fid=[2.0]), ["quality.fid"]) is None
    assert paired_seed_values(a, b, ["quality.fid", "quality.missing"]) is None
    short = card([0, 1, 2], quality_fid=[7.0, 8.0])                    # a value missing for one seed
    assert paired_seed_values(a, short, ["quality.fid"]) is None
