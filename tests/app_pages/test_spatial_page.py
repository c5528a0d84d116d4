"""AppTest drives the image lab page: a test scene, a clicked query, an upload, SAGAN."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import streamlit as st
from PIL import Image
from streamlit.testing.v1 import AppTest

import models.weights
import ui.spatial
from corpora import fashion
from models.classifiers import ARCHS, SpatialClassifier
from models.gan import SAGAN
from train.checkpoint import save_weights
from train.cards import write_card

ROOT = Path(__file__).resolve().parents[2]
PAGE = str(ROOT / "app_pages" / "spatial.py")
TIMEOUT = 180


@pytest.fixture(scope="module")
def tiny_assets(tmp_path_factory):
    """Untrained tiny models with cards, so the page test needs no trained weights."""
    folder = tmp_path_factory.mktemp("assets")
    for i, arch in enumerate(ARCHS):
        model = SpatialClassifier(arch, width=4)
        save_weights(model, folder / f"spatial_{arch}.safetensors")
        card = {"name": f"spatial_{arch}", "arch": arch, "hyperparameters": {"width": 4},
                "test_accuracy": 0.5 + i / 100, "training_time_s": 1.0,
                "pointing_game": {"accuracy": {"feature_energy (reference, no attention)": 0.3,
                                               "x (mask)": 0.4}}}
        if arch.startswith("nl") or arch == "dnl":
            name = "dnl.pairwise" if arch == "dnl" else "nl.affinity"
            card["query_independence"] = {"score": {name: 0.9 if arch != "dnl" else 0.2}}
        write_card(card, folder / f"spatial_{arch}.json")
    save_weights(SAGAN(z_dim=64, width=16), folder / "sagan.safetensors")
    write_card({"name": "sagan", "hyperparameters": {"z_dim": 64, "width": 16, "steps": 1},
                "gamma": {"generator": 0.1, "discriminator": 0.2}, "training_time_s": 1.0},
               folder / "sagan.json")
    return folder


@pytest.fixture()
def app(tiny_assets, monkeypatch):
    monkeypatch.setattr(models.weights, "ASSETS", tiny_assets)
    st.cache_data.clear()
    st.cache_resource.clear()
    yield AppTest.from_file(PAGE, default_timeout=TIMEOUT)
    st.cache_data.clear()
    st.cache_resource.clear()


def _chart_count(at) -> int:
    return sum(1 for node in _walk(at.main) if type(node).__name__ == "UnknownElement"
               and getattr(node, "type", "") == "plotly_chart")


def _walk(node):
    stack = [node]
    while stack:
        n = stack.pop()
        yield n
        children = getattr(n, "children", None)
        if isinstance(children, dict):
            stack.extend(children.values())


@pytest.mark.skipif(not fashion.dataset_available(),
                    reason="test scenes need Debian's dataset-fashion-mnist (apt-get install -y dataset-fashion-mnist)")
def test_scene_click_and_compare(app):
    at = app.run()
    assert not at.exception, [e.message for e in at.exception]
    assert not at.error, [e.value for e in at.error]
    assert at.number_input(key="scene_index").value == 0
    charts = _chart_count(at)
    assert charts >= 10  # clickable input, 4 NL maps, DNL maps, CBAM bars and masks, compare, SAGAN
    assert any("query-independence" in m.value for m in at.markdown)
    # A click on cell (3, 5) reaches the page as these two values (see click_to_state).
    at.number_input(key="q_row").set_value(3)
    at.number_input(key="q_col").set_value(5)
    at.run()
    assert not at.exception
    assert any("row 3, col 5" in h.value for h in at.subheader)
    at.selectbox(key="cmp_left").set_value("cbam_full")
    at.selectbox(key="cmp_right").set_value("nl_dot")
    at.number_input(key="sagan_sample").set_value(3)
    at.number_input(key="scene_index").set_value(123)
    at.run()
    assert not at.exception
    assert _chart_count(at) >= charts - 2


def test_upload_path_and_bad_file(app):
    at = app.run()
    at.radio(key="spatial_source").set_value("Sample photo").run()
    assert not at.exception
    # A sample photo from scikit-image when installed, else the page asks for an upload.
    if at.selectbox(key="spatial_upload_source").value == "Upload a file":
        assert at.info
    else:
        assert _chart_count(at) >= 5
        assert not at.error


def test_selection_event_to_query():
    grid = (16, 16)
    # What the browser sends: customdata as an object with string keys.
    event = {"selection": {"points": [{"point_index": 52, "customdata": {"0": 3, "1": 4}}]}}
    assert ui.spatial.query_from_selection(event, grid) == (3, 4)
    assert ui.spatial.query_from_selection({"selection": {"points": [{"customdata": [1, 2]}]}}, grid) == (1, 2)
    assert ui.spatial.query_from_selection({"selection": {"points": [{"point_index": 17}]}}, grid) == (1, 1)
    assert ui.spatial.query_from_selection({"selection": {"points": []}}, grid) is None
    assert ui.spatial.query_from_selection(None, grid) is None
    assert ui.spatial.query_from_selection({"selection": {"points": [{"customdata": [99, 0]}]}}, grid) is None


def test_upload_conversion_keeps_aspect_and_inverts():
    img = Image.new("RGB", (200, 100), (255, 255, 255))
    got = ui.spatial.upload_to_input(img, invert=True, name="white.png")
    assert got.image.shape == (64, 64) and got.image.dtype == np.uint8
    assert got.image.max() == 0  # white inverted to black, padding black
    plain = ui.spatial.upload_to_input(img, invert=False, name="white.png")
    assert plain.image[32, 32] == 255 and plain.image[0, 32] == 0  # letterboxed top and bottom
    assert plain.label is None and plain.box is None


def test_damaged_weights_are_reported_not_raised(tiny_assets, tmp_path, monkeypatch):
    import shutil

    for f in tiny_assets.iterdir():
        shutil.copy(f, tmp_path / f.name)
    (tmp_path / "spatial_dnl.safetensors").write_bytes(b"not a safetensors file")
    (tmp_path / "sagan.safetensors").write_bytes(b"")
    monkeypatch.setattr(models.weights, "ASSETS", tmp_path)
    st.cache_data.clear()
    st.cache_resource.clear()
    at = AppTest.from_file(PAGE, default_timeout=TIMEOUT).run()
    # A sample photo needs neither the dataset nor an upload (scikit-image ships it).
    at.radio(key="spatial_source").set_value("Sample photo").run()
    assert not at.exception, [e.message for e in at.exception]
    if at.selectbox(key="spatial_upload_source").value == "Upload a file":
        pytest.skip("no bundled sample photo (scikit-image missing) to drive the page with")
    assert any("Disentangled NL is left out" in w.value for w in at.warning)
    assert any("SAGAN is not shown" in i.value for i in at.info)
    st.cache_data.clear()
    st.cache_resource.clear()


def _png(size=(40, 30), color=(200, 180, 20)) -> bytes:
    import io

    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def test_an_upload_in_one_step_keeps_the_query_the_controls_show(app):
    """Issue 14: the drop zone is there at once, and after an upload the row and column
    boxes still show the query the maps are computed for (they once read 0, 0 at (8, 8))."""
    at = app.run()
    at.radio(key="spatial_source").set_value("Sample photo").run()
    if not at.selectbox(key="spatial_upload_source").options:
        pytest.skip("no bundled sample photos")
    at.number_input(key="q_row").set_value(3)
    at.number_input(key="q_col").set_value(5)
    at.run()
    uploaders = [u for u in at.get("file_uploader")]
    assert uploaders, "the drop zone is visible without any other click"
    uploaders[0].set_value(("mine.png", _png(), "image/png"))
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert (at.number_input(key="q_row").value, at.number_input(key="q_col").value) == (3, 5)
    assert any("row 3, col 5" in h.value for h in at.subheader)
    assert at.radio(key="spatial_source").disabled  # the upload wins while it is there
    uploaders = [u for u in at.get("file_uploader")]
    uploaders[0].set_value(("broken.png", b"not an image", "image/png"))
    at.run()
    assert not at.exception and any("not an image" in e.value for e in at.error)


@pytest.mark.skipif(not fashion.dataset_available(), reason="test scenes need Debian's dataset-fashion-mnist")
def test_a_shared_link_opens_the_same_scene_and_query(app):
    at = app
    at.query_params["scene_index"] = "5"
    at.query_params["q_query"] = "3,4"
    at.run()
    assert not at.exception, [e.message for e in at.exception]
    assert at.number_input(key="scene_index").value == 5
    assert (at.number_input(key="q_row").value, at.number_input(key="q_col").value) == (3, 4)
    assert any("row 3, col 4" in h.value for h in at.subheader)
    at.number_input(key="q_col").set_value(6).run()
    assert at.query_params["q_query"] == "3,6"


def test_card_table_gives_mean_sd_over_seeds_and_chance_beside_each_score(monkeypatch):
    import ui.spatial_views as views
    from train.experiment import across_seeds

    def seed_card(acc, pg, qi):
        chance = {"uniform": 0.08, "centre_prior": 0.31, "shuffled_box": 0.12}
        return {"arch": "nl_dot", "test_accuracy": acc, "training_time_s": 5.0,
                "pointing_game": {"accuracy": {"nl.affinity (mass over queries)": 0.1}},
                "localisation": {"scores": {
                    "feature_energy (reference, no attention)": {"pointing_game": {"map": 0.99, "chance": chance},
                                                                 "energy_in_box": {"map": 0.9, "chance": chance}},
                    "nl.affinity (mass over queries)": {"pointing_game": {"map": pg, "chance": chance},
                                                        "energy_in_box": {"map": pg / 2, "chance": chance}}}},
                "query_independence": {"score": {"nl.affinity": qi}, "chance": {"random_weights": {"nl.affinity": 0.97}}},
                "plateau": {"reached": acc > 0.72, "last_epoch_gain": 0.02 if acc > 0.72 else 0.0}}

    seeds = [seed_card(0.70, 0.90, 0.70), seed_card(0.74, 0.96, 0.80)]
    summary = {**seeds[0], "seeds": [0, 1], "across_seeds": across_seeds(seeds),
               "comparison": {"cbam_ordering": {"statement": "holds on 1 of 2 seeds"}}}
    monkeypatch.setattr(views, "load_card", lambda arch: summary if arch == "nl_dot" else seeds[0])
    row = views.card_metrics("nl_dot")
    assert row["test accuracy"] == "0.720 ± 0.028 (2 seeds)"
    assert row["sign-aware pointing game (best map)"] == (
        "0.930 ± 0.042 (2 seeds) (chance: uniform 0.08, centre 0.31, shuffled box 0.12)")
    assert row["energy in box (best map)"].startswith("0.465 ± 0.021 (2 seeds)")
    assert row["query independence"] == "0.750 ± 0.071 (2 seeds) (random weights 0.970)"
    assert row["last epoch's validation gain (plateau below 0.005)"] == "0.010 ± 0.014 (2 seeds)"  # the rule's own threshold
    one = views.card_metrics("dnl")                                      # a one-seed card: plain values
    assert one["test accuracy"] == "0.700" and one["query independence"] == "0.700 (random weights 0.970)"
    assert views.cbam_statement(summary) == "holds on 1 of 2 seeds"
    assert views.cbam_statement({"acceptance_cbam_ordering": {"statement": "one seed"}}) == "one seed"
    assert views.cbam_statement({}) is None


def test_gan_score_rows_give_mean_and_sd_over_seeds_beside_the_real_floor():
    from ui.spatial_views import gan_score_rows

    sagan = {"seeds": [0, 1, 2], "quality": {"fid": 30.0, "inception_score": 6.0, "largest_class_share": 0.2,
                                             "empty_classes": 0},
             "across_seeds": {"quality.fid": {"mean": 31.0, "sd": 2.0, "values": [30.0, 30.0, 33.0]},
                              "quality.empty_classes": {"mean": 1 / 3, "sd": 0.58, "values": [0.0, 1.0, 0.0]},
                              "steps_run": {"mean": 7333.3, "sd": 763.8, "values": [6500.0, 8000.0, 7500.0]}},
             "chance": {"fid_real_vs_real": 2.97, "inception_score_real": 7.82}, "steps_run": 6500}
    plain = {"seed": 0, "quality": {"fid": 40.0, "empty_classes": 2}, "steps_run": 2000}
    rows = gan_score_rows({"sagan": sagan, "gan_no_attention": plain})
    assert [r["model"] for r in rows] == ["SAGAN (self-attention)", "Same GAN, no attention", "real test images (floor)"]
    assert rows[0]["FID ↓"] == "31.000 ± 2.000 (3 seeds)" and rows[0]["Inception Score ↑"] == "6.000"
    assert [r["seeds"] for r in rows] == ["3", "1", "—"] and rows[1]["Inception Score ↑"] == "—"
    assert rows[2]["FID ↓"] == "2.970 (half vs half)" and rows[2]["Inception Score ↑"] == "7.820"
    # whole numbers seed by seed, not the page seed's alone beside means of three
    assert rows[0]["steps (each seed)"] == "6,500 / 8,000 / 7,500"
    assert rows[0]["empty classes (each seed)"] == "0 / 1 / 0"
    assert rows[1]["steps (each seed)"] == "2,000" and rows[1]["empty classes (each seed)"] == "2"
    assert rows[2]["empty classes (each seed)"] == "0" and rows[2]["steps (each seed)"] == "—"


def test_query_independence_rows_and_verdict_read_the_seeds_spread_and_random_weights(monkeypatch):
    import ui.spatial_views as views

    def card(arch, name, mean, sd, values, random):
        return {"arch": arch, "query_independence": {"score": {name: values[0]},
                                                     "chance": {"random_weights": {name: random}}},
                "across_seeds": {f"query_independence.score.{name}": {"mean": mean, "sd": sd, "values": values}}}

    cards = {"nl_embedded": card("nl_embedded", "nl.affinity", 0.77, 0.02, [0.75, 0.79], 0.95),
             "dnl": card("dnl", "dnl.pairwise", 0.64, 0.03, [0.61, 0.67], 0.90)}
    monkeypatch.setattr(views, "load_card", cards.get)
    rows = views.query_independence_rows(["nl_embedded", "dnl"])
    assert rows[1] == {"model": views.ARCH_TITLES["dnl"], "map": "dnl.pairwise", "query independence": 0.64,
                       "random weights": 0.90, "sd": 0.03, "seeds": 2}
    text = views.query_independence_verdict(rows)
    assert "**0.640** against **0.770**" in text and "(means of 2 seeds)" in text
    assert "less alike" in text and "DNL 0.900, NL 0.950" in text
    # a gap inside the seeds' spread makes no claim
    cards["dnl"] = card("dnl", "dnl.pairwise", 0.75, 0.04, [0.71, 0.79], 0.90)
    text = views.query_independence_verdict(views.query_independence_rows(["nl_embedded", "dnl"]))
    assert "within one seed-to-seed sd (0.040)" in text and "less alike" not in text
    # one seed: no spread, the plain value and no seed count
    monkeypatch.setattr(views, "load_card", lambda a: {"query_independence": {"score": {"dnl.pairwise": 0.5}}})
    (row,) = views.query_independence_rows(["dnl"])
    assert row["query independence"] == 0.5 and row["sd"] is None and row["seeds"] == 1


def test_against_baseline_text_and_the_real_floor():
    from models.spatial_cards import against_baseline_text
    import ui.spatial_views as views

    card = {"comparison": {"against_baseline": {"across_seeds": {
        "mean_difference": -0.0123, "sd_difference": 0.01, "a_better_on": 1, "seeds": 5, "t_test_p_value": 0.049}}}}
    assert against_baseline_text(card) == "-0.012 ± 0.010, ahead on 1/5 seeds, p = 0.049"
    card["comparison"]["against_baseline"]["across_seeds"]["t_test_p_value"] = None
    assert against_baseline_text(card).endswith("ahead on 1/5 seeds")
    assert against_baseline_text({}) is None
    card["comparison"]["against_baseline"]["across_seeds"].update(seeds=1, sd_difference=0.0, a_better_on=0)
    assert against_baseline_text(card) == "-0.012 (1 seed)"  # no spread to show on one seed
    assert views.real_floor({"a": {}, "b": {"chance": {"fid_real_vs_real": 3.0}}}) == {"fid_real_vs_real": 3.0}
    assert views.real_floor({"a": {"chance": "n/a"}}) == {}


def test_gan_comparison_reads_both_cards_seed_by_seed():
    from scipy.stats import ttest_1samp

    from ui.spatial_views import gan_comparison

    def card(fid, iscore, largest, empty, seeds=(0, 1, 2)):
        spread = {"fid": fid, "inception_score": iscore, "largest_class_share": largest, "empty_classes": empty}
        return {"seeds": list(seeds), "across_seeds": {f"quality.{k}": {"values": v} for k, v in spread.items()}}

    sagan = card([30.0, 50.0, 40.0], [6.0, 5.0, 5.5], [0.2, 0.3, 0.24], [0, 0, 1])
    plain = card([40.0, 45.0, 60.0], [5.0, 5.5, 5.0], [0.22, 0.2, 0.4], [0, 0, 2])
    text = gan_comparison({"sagan": sagan, "gan_no_attention": plain})
    # FID differences (-10, 5, -20): mean -8.33, sd 12.58, SAGAN lower on seeds 0 and 2
    p_fid = ttest_1samp([-10.0, 5.0, -20.0], 0.0).pvalue
    assert f"FID -8.33 ± 12.58 (SAGAN lower on 2 of 3 seeds, paired t p = {p_fid:.2f})" in text
    # IS differences (1, -0.5, 0.5): SAGAN higher on 2 of 3
    assert "Inception Score +0.33 ± 0.76 (SAGAN higher on 2 of 3 seeds" in text
    # coverage: SAGAN seed 0 only (seed 1 has 30 %, seed 2 an empty class); plain seeds 0 and 1
    assert "SAGAN on 1 of 3 seeds, without attention on 2" in text
    assert text.endswith("Here neither part is shown at p < 0.05: the claim does not reproduce on these seeds.")
    assert gan_comparison({"sagan": sagan}) is None
    assert gan_comparison({"sagan": sagan, "gan_no_attention": card([1.0, 2.0], [1.0, 1.0], [0.1, 0.1], [0, 0],
                                                                    seeds=(0, 1))}) is None


def test_claim_verdict_needs_the_reported_direction_and_p_below_alpha():
    from scipy.stats import ttest_rel

    from ui.spatial_views import claim_verdict

    lower_fid = ([30.0, 31.0, 29.0], [40.0, 42.0, 41.0])   # SAGAN lower by 10-11 on every seed
    higher_fid = (lower_fid[1], lower_fid[0])               # the same gap the other way
    higher_is = ([6.0, 6.2, 6.1], [5.0, 5.1, 5.0])
    noisy_is = ([6.0, 5.0, 5.5], [5.0, 5.5, 5.0])
    assert ttest_rel(*lower_fid).pvalue < 0.05 and ttest_rel(*higher_is).pvalue < 0.05
    assert ttest_rel(*noisy_is).pvalue > 0.05
    assert claim_verdict(lower_fid, higher_is) == "Here both parts hold (p < 0.05)."
    assert claim_verdict(lower_fid, noisy_is) == ("Here only the lower FID part holds at p < 0.05; "
                                                  "the higher IS part does not.")
    assert claim_verdict(higher_fid, higher_is) == ("Here only the higher IS part holds at p < 0.05; "
                                                    "the lower FID part does not.")  # significant, but the wrong way
    assert claim_verdict(higher_fid, (higher_is[1], higher_is[0])).startswith("Here neither part")
    same_gap = ([30.0, 31.0], [40.0, 41.0])                 # no spread: no t test, so not shown
    assert claim_verdict(same_gap, ([6.0, 6.0], [5.0, 5.0])).startswith("Here neither part")
    assert claim_verdict(lower_fid, noisy_is, alpha=0.6) == "Here both parts hold (p < 0.6)."  # noisy IS: p 0.53


def test_the_sagan_caption_names_the_shown_seed_and_its_own_run():
    from ui.spatial_views import _sagan_caption

    card = {"gamma": {"generator": -0.2914, "discriminator": 0.2231}, "seed": 0, "steps_run": 6500,
            "weights_from_step": 6000, "training_time_s": 4225.8, "device": "CPU (1 threads)",
            "across_seeds": {"steps_run": {"values": [6500, 8000, 7500]}}}
    assert _sagan_caption(card) == ("The self-attention output is scaled by γ (initialised to 0): learned γ = -0.291 "
                                    "in the generator, 0.223 in the discriminator. Shown: seed 0, 6,500 training "
                                    "steps in 70 min on CPU (1 threads), weights from step 6,000.")
    assert _sagan_caption({}).endswith("Shown: the trained run, training steps unknown.")
