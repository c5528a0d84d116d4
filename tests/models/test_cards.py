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
