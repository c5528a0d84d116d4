"""OSIS markup cleaning: no glued words, notes dropped, Strong's numbers kept per word."""

import pytest

from corpora.bible import clean_osis, keep_pair, reference_links, split_of


def test_note_between_words_does_not_glue_them():
    raw = ('<w lemma="strong:H0430">God</w><note placement="foot"><reference type="annotateRef">1:1 '
           '</reference>The Hebrew word rendered “God” is “אֱלֹהִ֑ים” (Elohim).</note>'
           '<w lemma="strong:H1254">created</w> <w lemma="strong:H8064">heavens</w>.')
    v = clean_osis(raw)
    assert v.text == "God created heavens."
    assert "Godcreated" not in v.text and "Elohim" not in v.text
    assert v.strongs == (frozenset({"H430"}), frozenset({"H1254"}), frozenset({"H8064"}))


def test_added_words_and_line_milestones_get_spaces():
    raw = ('<w lemma="strong:H8033">hay allí</w><transChange type="added">también</transChange>'
           '<w lemma="strong:H0916">bdelio</w>;<l eID="x"/><l sID="y"/>nada<lb/>más')
    assert clean_osis(raw).text == "hay allí también bdelio; nada más"


def test_inline_tag_inside_a_word_does_not_split_it():
    raw = 'preguntándo<transChange type="added">le</transChange>, dijo'
    assert clean_osis(raw).text == "preguntándole, dijo"


def test_punctuation_and_quotes_keep_their_place_and_whitespace_is_normalised():
    raw = ('<q marker="" who="Jesus"><w lemma="strong:G2316">God’s</w>   <w>Son</w>,</q>\n'
           '<div type="x-p"/> “Come!”<title type="section">A heading</title>')
    v = clean_osis(raw)
    assert v.text == "God’s Son, “Come!”"
    assert "heading" not in v.text


def test_canonical_psalm_title_is_kept():
    v = clean_osis('<title canonical="true" type="psalm">A Psalm by David.</title> <w>Yahweh</w>')
    assert v.text == "A Psalm by David. Yahweh"


def test_entities_are_unescaped_and_multiple_lemmas_read():
    v = clean_osis('<w lemma="strong:H0853 strong:H0430">A&amp;B</w>')
    assert v.text == "A&B" and v.strongs[0] == frozenset({"H853", "H430"})


def test_reference_links_share_strongs_numbers():
    en = clean_osis('<w lemma="strong:H0430">God</w> <w lemma="strong:H1254">created</w>')
    es = clean_osis('<w lemma="strong:H1254">crió</w> <w lemma="strong:H0430">Dios</w> y')
    assert reference_links(en, es) == [(0, 1), (1, 0)]  # (spanish word, english word)


def test_split_is_by_chapter_and_pairs_are_filtered():
    assert [split_of(k) for k in (7, 17, 27, 37, 1)] == ["dev", "test", "dev", "test", "train"]
    a, b = clean_osis("one two three"), clean_osis("uno dos tres cuatro")
    assert keep_pair(a, b)
    assert not keep_pair(a, clean_osis("uno dos tres cuatro cinco seis siete"))
    assert not keep_pair(a, clean_osis(""))


@pytest.mark.skipif(not __import__("pathlib").Path("/usr/share/sword/mods.d/engWEB2015eb.conf").exists(),
                    reason="needs Debian's sword-text-web and sword-text-sparv (make data)")
def test_real_verses_have_no_glued_words():
    from pysword.modules import SwordModules

    modules = SwordModules("/usr/share/sword")
    modules.parse_modules()
    web = modules.get_bible_from_module("engWEB2015eb")
    raw = web.get(books=["Gen"], chapters=[1], verses=[1], clean=False)
    assert clean_osis(raw).text == "In the beginning, God created the heavens and the earth."


def test_note_after_punctuation_leaves_a_space_before_the_next_word_only():
    raw = ('<w>conceived</w>,<note placement="foot">or, became pregnant</note><w>and</w> gave '
           'half a shekel<note placement="foot">about 10 grams</note>. He said,<l/>“Come')
    assert clean_osis(raw).text == "conceived, and gave half a shekel. He said, “Come"
