"""Translation lab: seq2seq vs RNNsearch vs Transformer on the same English sentence.

Thin page: widgets -> ui.translation (cached models and translations) -> ui.translation_views.
"""

from __future__ import annotations

import streamlit as st

from ui.sidebar import device_badge
from ui.translation import assets_dir, load_cards, test_verses
from ui.translation_views import (explore, sentence_form, share_translation_view, show_translations,
                                  translate_or_stop, translators_or_stop, verse_picker)

st.title("Translation lab")
st.caption(
    "English → Spanish, three models trained here on the same Bible verses: seq2seq squeezes the "
    "sentence into one vector (no attention), RNNsearch aligns softly (additive attention), the "
    "Transformer attends with many heads. Type a sentence and compare."
)
device_badge()
folder = assets_dir()
translators_or_stop(folder)

verses = test_verses(folder)
share_translation_view(len(verses))
verse_picker(verses)
text, beam = sentence_form()
outputs = translate_or_stop(folder, text, beam)
show_translations(outputs, load_cards(folder), beam)

verse = next((v for v in verses if v["en"] == text), None)
explore(folder, outputs, text, beam, verse)
