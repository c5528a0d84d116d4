"""The photos page's sections: the prediction, the click maps, Captum attributions,
agreement and deletion, and the optional vision transformer. Each reads ui.photos'
caches; every failure a user can cause ends in a message, never a traceback.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import streamlit as st

from analysis.attribution import agreement
from models.pretrained import efficientnet_lite as effnet
from models.pretrained.hf import ModelDirError, check_model_dir
from ui import photos as ph
from ui.widgets import keep_query, shared_query
from viz import images as vz

CLICK_CHART = "photos_click"
SCALE_LABELS = {
    "auto": "1 / mean‖x‖² (readable)",
    "sqrt": "1 / √C (scaled dot product)",
    "1/C": "1 / C",
    "paper": "1 (the paper's exp(xᵢᵀxⱼ))",
}


def predict_or_stop(key: str, image: np.ndarray) -> effnet.Prediction:
    try:
        return ph.predict(key, image)
    except Exception as exc:  # a photo the model cannot take is the user's, not a crash
        st.error(f"The model could not run on this image: {exc}")
        st.stop()


def show_prediction(image: np.ndarray, source: str, prediction: effnet.Prediction) -> None:
    left, right = st.columns([1, 1])
    with left:
        st.image(vz.blend(image, None), caption=f"{source}: {image.shape[1]} x {image.shape[0]} pixels")
    with right:
        st.plotly_chart(vz.top_classes_figure([n for _, n, _ in prediction.top], [p for _, _, p in prediction.top]),
                        width="stretch", key="photos_top5")


def _click_settings():
    c1, c2, c3, c4 = st.columns(4)
    stage = c1.selectbox("Backbone stage", effnet.STAGE_NAMES, index=3, key="photos_stage",
                         help="Stage outputs of EfficientNet-Lite0; later stages are coarser and more semantic.")
    longest = c2.selectbox("Feature resolution (longest side)", ph.FEATURE_SIDES, index=1, key="photos_side",
                           help="The photo is resized to this before the backbone; features are cached per image.")
    scale = c3.selectbox("Logit scale", list(SCALE_LABELS), format_func=SCALE_LABELS.get, key="photos_scale",
                         help="Trained features have large norms: with scale 1 almost every row is one-hot.")
    gain = c4.select_slider("Sharpness", options=[1, 2, 5, 10, 20, 50, 100], value=5, key="photos_gain",
                            help="Multiplies the scale: higher gives a peakier softmax.")
    return stage, int(longest), scale, float(gain)


def show_click_maps(key: str, image: np.ndarray) -> dict[str, np.ndarray]:
    """Settings, the clickable photo and the affinity/DNL maps of the query; returns the maps."""
    st.header("Where does a pixel look? Non-local affinity and DNL terms")
    stage, longest, scale, gain = _click_settings()
    # A click on the chart is stored before the sliders are drawn, so they can follow it.
    ph.apply_click(st.session_state.get(CLICK_CHART), CLICK_CHART)
    keys = ("photos_u", "photos_v")
    shared_query("photos_query", keys, (0.5, 0.5))  # the sliders always show the query in use
    try:
        feats = ph.stage_features(key, longest, image)
    except Exception as exc:
        st.error(f"Backbone features could not be computed: {exc}")
        return {}
    grid = tuple(feats[stage][0].shape[1:])
    s1, s2 = st.columns(2)
    u = s1.slider("Query x (left → right)", 0.0, 1.0, step=0.01, key="photos_u", on_change=keep_query("photos_query", keys))
    v = s2.slider("Query y (top → bottom)", 0.0, 1.0, step=0.01, key="photos_v", on_change=keep_query("photos_query", keys))
    records, cell = ph.click_maps(key, longest, image, stage, (u, v), scale, gain)
    named = {"Affinity": records[0].numpy(), "DNL pairwise": records[1].numpy(), "DNL unary": records[2].numpy()}
    st.caption(
        f"{stage}: {grid[0]} x {grid[1]} positions, {int(feats[stage][0].shape[0])} channels; "
        f"query cell (row {cell[0]}, col {cell[1]}); logit scale s = {records[0].meta['scale']:.3g}. "
        "Affinity = softmaxⱼ(s·xᵢᵀxⱼ); DNL pairwise = softmaxⱼ(s·(xᵢ−μ)ᵀ(xⱼ−μ)); "
        "DNL unary = softmaxⱼ(s·μᵀxⱼ), the same for every query (μ: mean feature).")
    row1 = st.columns(2)
    with row1[0]:
        st.plotly_chart(vz.click_figure(image, grid, marker=(u, v), title="Click a pixel"),
                        on_select="rerun", selection_mode="points", key=CLICK_CHART, width="stretch")
    for col, (name, m) in zip([row1[1], *st.columns(2)], named.items()):
        with col:
            st.plotly_chart(vz.overlay_figure(image, m, title=f"{name} (peak {m.max():.3f})", marker=(u, v),
                                              max_side=320), width="stretch", key=f"photos_map_{name}")
    return named


def pick_target(prediction: effnet.Prediction) -> tuple[int, int]:
    """The class to explain (the prediction by default) and the number of IG steps."""
    a1, a2 = st.columns([3, 1])
    choice = a1.selectbox("Class to explain", ["predicted"] + ph.class_options(), key="photos_class",
                          format_func=lambda o: f"predicted: {prediction.top[0][1]}" if o == "predicted" else o)
    target = prediction.top[0][0] if choice == "predicted" else int(choice.split(":", 1)[0])
    n_steps = a2.select_slider("IG steps", options=[8, 16, 32], value=8, key="photos_ig_steps",
                               help="More steps: a better integral, linearly slower.")
    return target, int(n_steps)


def show_attributions(key: str, image: np.ndarray, prediction: effnet.Prediction) -> tuple[int, dict]:
    """Grad-CAM, IG and Occlusion for a chosen class; returns the class and the maps."""
    st.header("What does the class depend on? Captum attributions")
    target, n_steps = pick_target(prediction)
    st.caption(f"Explaining class {target}: {effnet.class_names()[target]} "
               f"(p = {prediction.probs[target]:.3f}). Grad-CAM on the last block (stage7); "
               "IG from a grey baseline; Occlusion with a 56-pixel window, stride 28 (on the 224 x 224 input). "
               "The first run for a class takes several seconds on a CPU; after that it is cached.")
    try:
        captum = ph.attribution_maps(key, image, target, n_steps)
    except Exception as exc:
        st.error(f"Attributions failed: {exc}")
        return target, {}
    for col, (name, m) in zip(st.columns(len(captum)) if captum else [], captum.items()):
        with col:
            st.plotly_chart(vz.overlay_figure(image, m, title=name, max_side=256), width="stretch",
                            key=f"photos_attr_{name}")
    return target, captum


def _show_deletion(key: str, image: np.ndarray, target: int, maps: dict[str, np.ndarray]) -> None:
    with st.spinner("Deletion curves …"):
        try:
            curves = ph.deletion_curves(key, image, target, maps)
        except Exception as exc:
            st.error(f"Deletion curves failed: {exc}")
            return
    if curves:
        st.plotly_chart(vz.deletion_figure(
            {n: (c.fractions, c.probabilities, c.auc) for n, c in curves.items()},
            title=f"Deletion: p({effnet.class_names()[target]}) as the most important pixels go"),
            width="stretch", key="photos_deletion")
        st.dataframe(pd.DataFrame({"map": list(curves), "deletion AUC (lower = more faithful)":
                                   [round(c.auc, 4) for c in curves.values()]}), hide_index=True, width="content")


def show_agreement_and_deletion(key: str, image: np.ndarray, target: int, captum: dict, click: dict) -> None:
    """Rank correlation and top-k overlap between every pair of maps, then deletion curves."""
    all_maps = {**captum, **click}
    if len(all_maps) < 2:
        return
    st.header("Which map is faithful? Agreement and deletion")
    fraction = st.select_slider("Top-k overlap: k as a fraction of pixels", options=[0.05, 0.1, 0.2, 0.3],
                                value=0.1, key="photos_topk")
    # Every map goes to the photo's shape first, then agreement pools to a common grid.
    shaped = {n: vz.resize_map(m, image.shape[:2]) if m.shape != image.shape[:2] else m for n, m in all_maps.items()}
    agree = agreement(shaped, grid=56, fraction=float(fraction))
    g1, g2 = st.columns(2)
    g1.plotly_chart(vz.agreement_figure(agree.names, agree.spearman, "Spearman rank correlation"),
                    width="stretch", key="photos_spearman")
    g2.plotly_chart(vz.agreement_figure(agree.names, agree.overlap, f"Top-{fraction:.0%} overlap", zmin=0.0),
                    width="stretch", key="photos_overlap")
    st.caption("Maps are pooled to 56 x 56 before comparing. The click maps answer a different "
               "question (where a pixel looks) from the attributions (what the class needs), so low "
               "agreement between the two groups is expected, not an error.")
    include_click = st.toggle("Deletion curves for the click maps too (runs the CNN 21 times per map)",
                              value=False, key="photos_del_click")
    to_delete = {**captum, **({n: shaped[n] for n in click} if include_click else {})}
    if to_delete:
        _show_deletion(key, image, target, to_delete)


def _show_vit_maps(image: np.ndarray, run, roll) -> None:
    cls = run.records[1]
    n_layers = cls.size("layer")
    layer = st.slider("Layer", 0, n_layers - 1, n_layers - 1, key="photos_vit_layer")
    maps = cls.select(layer=layer).numpy().reshape(cls.size("head"), *run.grid)
    columns = min(6, maps.shape[0])
    mosaic = vz.head_mosaic(image, maps, cell=128, columns=columns)
    tile = vz.display_shape(image.shape[:2], 128)
    st.plotly_chart(vz.mosaic_figure(mosaic, [f"head {h}" for h in range(maps.shape[0])], columns, tile,
                                     title=f"[CLS] → patches, layer {layer}, every head"),
                    width="stretch", key="photos_vit_heads")
    rolled = roll.select(layer=layer).numpy().reshape(run.grid)
    st.plotly_chart(vz.overlay_figure(image, rolled, title=f"Rollout of [CLS] up to layer {layer}", max_side=320),
                    width="content", key="photos_vit_rollout")
    st.caption(f"{run.grid[0]} x {run.grid[1]} patches, {run.n_prefix} prefix token(s); on average "
               f"{cls.meta['prefix_mass']:.1%} of [CLS]'s attention goes to prefix tokens, not shown.")


def show_vit_section(key: str, image: np.ndarray) -> None:
    """Each head's [CLS] attention and rollout of a local ViT/DeiT folder the user names."""
    st.header("Vision transformer (optional)")
    vit_dir = st.text_input("Local ViT or DeiT directory (Hugging Face format, with preprocessor_config.json)",
                            key="photos_vit_dir", placeholder="/path/to/vit-base-patch16-224")
    if not vit_dir.strip():
        st.info("No ViT/DeiT directory given, so this section shows nothing. Type the path of a local "
                "Hugging Face ViT or DeiT folder to see each head's class-token attention and rollout. "
                "Nothing is downloaded.")
        return
    try:
        run, roll = ph.vit_maps(str(check_model_dir(vit_dir)), key, image)
    except (ModelDirError, ValueError, OSError) as exc:
        st.error(str(exc))
    except Exception as exc:  # a broken folder can raise anything inside transformers
        st.error(f"The model in {vit_dir!r} could not be run: {exc}")
    else:
        _show_vit_maps(image, run, roll)


def share_photos_view() -> None:
    """The example photo, the query point and the backbone stage travel in the page's address."""
    from ui.image_input import sample_images
    from ui.share import Field, one_of, pair_of, shareable, show_pair

    shareable("photos", [Field("photos_source", one_of(sample_images())),
                         Field("photos_query", pair_of(float, 0.0, 1.0), show_pair),
                         Field("photos_stage", one_of(effnet.STAGE_NAMES))])
