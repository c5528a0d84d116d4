"""Data sets for the Corpus lab: every bad input is a message or a counted skipped line."""

import json

import pytest

from corpora.texts import MAX_BYTES, MAX_TEXT_CHARS, TextsError, bundled_verses, read_texts, sample


def test_the_bundled_verses_are_a_few_thousand_clean_texts():
    verses = bundled_verses()
    assert len(verses.texts) == 3000 and verses.refs[0] == "Gen 1:1"
    assert verses.texts[0].startswith("In the beginning, God created")
    assert not any("<" in t or "Godcreated" in t for t in verses.texts)


def test_txt_csv_jsonl():
    assert read_texts("a.txt", b"one\n\n two \n").texts == ("one", "two")
    assert read_texts("a.txt", b"one\n\n two \n").skipped == {"blank": 1}
    csv = read_texts("a.csv", 'id,Text\n1,"hello, world"\n2,\n'.encode())
    assert csv.texts == ("hello, world",) and csv.skipped == {"blank": 1}
    lines = [json.dumps({"text": "a <b>bold</b> claim"}), "not json", "", json.dumps([1]), json.dumps({"x": 1})]
    got = read_texts("a.jsonl", "\n".join(lines).encode())
    assert got.texts == ("a <b>bold</b> claim",)  # markup is kept as data; views escape it
    assert got.skipped == {"not a JSON object": 2, "no text under 'text'": 1, "blank": 1}


@pytest.mark.parametrize("name, data, says", [
    ("empty.txt", b"", "is empty"),
    ("blank.txt", b"\n \n\t\n", "only blank lines"),
    ("big.txt", b"x" * (MAX_BYTES + 1), "the limit is 20 MB"),
    ("photo.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary file"),
    ("latin1.txt", "caf\u00e9".encode("latin-1"), "not UTF-8"),
    ("table.csv", b"id,body\n1,hello\n", "no column 'text' (its columns: 'id', 'body')"),
    ("data.parquet", b"PAR1", "use a .txt"),
    ("long.txt", b"y" * 200_000 + b"\n", "no usable texts (1 longer than 20,000 characters)"),
])
def test_bad_files_say_why(name, data, says):
    with pytest.raises(TextsError, match=None) as info:
        read_texts(name, data)
    assert says in str(info.value)


def test_a_very_long_line_is_skipped_and_counted():
    got = read_texts("a.txt", b"short\n" + b"z" * 200_000 + b"\n")
    assert got.texts == ("short",) and got.skipped == {f"longer than {MAX_TEXT_CHARS:,} characters": 1}


def test_sample_is_seeded_and_keeps_order():
    verses = bundled_verses()
    a, b = sample(verses, 50, seed=1), sample(verses, 50, seed=1)
    assert a == b and len(a.texts) == 50
    assert [verses.refs.index(r) for r in a.refs] == sorted(verses.refs.index(r) for r in a.refs)
    assert sample(verses, 10_000) is verses
