"""A few training steps end to end on a tiny TSV corpus: weights, card, resume, translate."""

import json
import random

import pytest
import torch

from train.plateau import plateaued
from train.translation import lr_factor, main
from models.translation.translator import Translator

EN = "the cat dog man woman house sees eats big small red green water bread gives has".split()
ES = "el gato perro hombre mujer casa ve come grande pequeño rojo verde agua pan da tiene".split()


@pytest.fixture(scope="module")
def tiny_tsv(tmp_path_factory):
    rng = random.Random(0)
    path = tmp_path_factory.mktemp("tsv") / "tiny.tsv"
    lines = []
    for _ in range(120):
        idx = [rng.randrange(len(EN)) for _ in range(rng.randint(2, 9))]
        lines.append(" ".join(EN[i] for i in idx) + "\t" + " ".join(ES[i] for i in idx))
    path.write_text("\n".join(lines) + "\nnot a pair\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("arch", ["seq2seq", "rnnsearch", "transformer"])
def test_training_runs_writes_card_and_resumes(arch, tiny_tsv, tmp_path, capsys):
    common = ["--arch", arch, "--tsv", str(tiny_tsv), "--vocab", "40", "--emb", "16", "--hidden", "16",
              "--layers", "1", "--heads", "2", "--ff", "32", "--max-tokens", "200",
              "--out", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    main(common + ["--max-steps", "3", "--eval-every", "2"])
    card = json.loads((tmp_path / "translation-tiny.json").with_name(f"translation-{arch}-tiny.json").read_text())
    assert card["trained_here"] is True and card["page"] == "Translation"
    assert card["made_by"].startswith("python -m train translation --arch " + arch)
    m = card["metrics"]
    assert m["train_steps"] == 3 and m["test_sentences"] == 6  # 5% of 120 pairs
    assert 0.0 <= m["bleu"] <= 100.0 and all(not isinstance(v, (dict, list)) for v in m.values())
    assert 0.0 <= m["bleu_greedy"] <= 100.0 and 0.0 <= m["chrf"] <= 100.0 and "tok:13a" in m["bleu_signature"]
    for name in ("greedy", "beam5"):  # the hypotheses that a paired test reads, one per test pair
        assert len((tmp_path / f"translation-{arch}-tiny.test.{name}.txt").read_text().splitlines()) == 6
    assert card["parameters"] > 0
    (point,) = card["dev_history"]  # one evaluation at step 2: the learning curve's first point
    assert point["step"] == 2 and 0.0 <= point["dev_bleu"] <= 100.0 and point["dev_loss"] > 0
    assert card["best_step"] == 2 and "step cap 3" in card["training"]
    # resumes from the checkpoint instead of starting again
    main(common + ["--max-steps", "5", "--eval-every", "2", "--resume"])
    assert "resumed" in capsys.readouterr().out
    assert [(r["from_step"], r["to_step"]) for r in json.loads((tmp_path / f"translation-{arch}-tiny.json").read_text())["runs"]] == [(0, 3), (3, 5)]
    card = json.loads((tmp_path / f"translation-{arch}-tiny.json").read_text())
    assert card["metrics"]["train_steps"] == 5
    translator = Translator.load(tmp_path / f"translation-{arch}-tiny.safetensors")
    result = translator.translate("the zebra sees water", beam=3)  # "zebra" never seen
    assert isinstance(result.text, str) and result.out_pieces[-1] == "</s>"
    assert all(r.weights.dtype == torch.float32 for r in result.records)


def test_tsv_with_too_few_pairs_is_refused(tmp_path):
    path = tmp_path / "small.tsv"
    path.write_text("a\tb\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="at least 20"):
        main(["--arch", "rnnsearch", "--tsv", str(path), "--out", str(tmp_path),
              "--checkpoints", str(tmp_path)])


def test_a_sitting_ends_by_minutes_without_export_and_resumes(tiny_tsv, tmp_path, capsys):
    common = ["--arch", "transformer", "--tsv", str(tiny_tsv), "--vocab", "40", "--emb", "16", "--hidden", "16",
              "--layers", "1", "--heads", "2", "--ff", "32", "--max-tokens", "200",
              "--out", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    main(common + ["--minutes", "0.0001"])  # stops after a step or two (6 ms)
    assert "continue with" in capsys.readouterr().out
    assert not list(tmp_path.glob("*.json")), "an unfinished run exports nothing"
    main(common + ["--max-steps", "4", "--resume"])
    card = json.loads((tmp_path / "translation-transformer-tiny.json").read_text())
    (a, b), (c, d) = [(r["from_step"], r["to_step"]) for r in card["runs"]]
    assert a == 0 and 1 <= b == c < d == 4
    assert all(r["device"].startswith("CPU (") and r["minutes"] >= 0 for r in card["runs"])


@pytest.mark.parametrize("bleus,stop", [
    ([], False), ([1.0, 2.0, 3.0], False),            # fewer than four evaluations: never
    ([5.0, 8.0, 8.1, 8.2, 8.29], True),               # best of the last three beats 8.0 by 0.29
    ([5.0, 8.0, 8.1, 8.2, 8.31], False),              # by 0.31
    ([5.0, 9.0, 7.0, 7.5, 8.0], True),                # worse than before
    ([1.0, 2.0, 3.0, 4.0], False),
])
def test_plateau_rule(bleus, stop):
    assert plateaued(bleus) is stop


def test_learning_rate_warms_up_then_decays_as_inverse_square_root():
    assert lr_factor(0, 100) == pytest.approx(0.01)
    assert lr_factor(99, 100) == pytest.approx(1.0)
    assert lr_factor(399, 100) == pytest.approx(0.5)


def test_alignment_is_scored_against_every_reference_with_baselines_and_floor(tiny_tsv, tmp_path):
    from train.translation import evaluate_alignment

    main(["--arch", "transformer", "--tsv", str(tiny_tsv), "--vocab", "40", "--emb", "16", "--hidden", "16",
          "--layers", "2", "--heads", "2", "--ff", "32", "--max-tokens", "200", "--max-steps", "2",
          "--out", str(tmp_path), "--checkpoints", str(tmp_path / "ck")])
    translator = Translator.load(tmp_path / "translation-transformer-tiny.safetensors")
    item = {"en": "the cat sees water", "es": "el gato ve agua", "links": [[0, 0], [1, 1], [2, 2], [3, 3], [0, 1]]}
    refs = {"strongs": [item, {**item, "links": []}], "eflomal": [item]}
    out = evaluate_alignment(translator, refs)
    for ref in ("strongs", "eflomal"):
        assert out[f"align_{ref}_verses"] == 1 and out[f"align_{ref}_words"] == 4
        # the oracle follows the reference: every argmax link is right, 4 of 5 links found
        assert out[f"align_{ref}_oracle_precision"] == 1.0
        assert out[f"align_{ref}_oracle_recall"] == pytest.approx(4 / 5)
        assert out[f"align_{ref}_oracle_aer"] == pytest.approx(1 - 2 * 4 / (4 + 5))
        # chance: a random source word is linked with probability k/4 for a word with k links
        assert out[f"align_{ref}_uniform_precision"] == pytest.approx((2 / 4 + 3 * 1 / 4) / 4)
        assert 0.0 <= out[f"align_{ref}_model_aer"] <= 1.0
        heads = out["per_head"][ref]
        assert set(heads) == {"L0H0", "L0H1", "L1H0", "L1H1", "L0mean", "L1mean"}
        assert out[f"align_{ref}_best_head_aer"] == pytest.approx(min(v["aer"] for k, v in heads.items() if "mean" not in k), abs=1e-4)
        assert heads[out[f"align_{ref}_best_head"]]["aer"] == pytest.approx(out[f"align_{ref}_best_head_aer"], abs=1e-4)
    assert out["align_aer"] == out["align_strongs_model_aer"]  # the names the page reads


def test_a_sitting_killed_between_checkpoints_is_still_recorded(tiny_tsv, tmp_path):
    common = ["--arch", "seq2seq", "--tsv", str(tiny_tsv), "--vocab", "40", "--emb", "16", "--hidden", "16",
              "--layers", "1", "--max-tokens", "200", "--out", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    main(common + ["--max-steps", "2"])
    path = tmp_path / "ck" / "translation-seq2seq-tiny.pt"
    state = torch.load(path, weights_only=True)
    del state["runs"][-1]["to_step"]  # as if the process had been killed after this checkpoint
    state["finished"] = ""
    torch.save(state, path)
    main(common + ["--max-steps", "4", "--resume"])
    runs = json.loads((tmp_path / "translation-seq2seq-tiny.json").read_text())["runs"]
    assert runs[0]["to_step"] == 2 and "stopped" in runs[0]["ended"]
    assert (runs[1]["from_step"], runs[1]["to_step"]) == (2, 4)


def test_learning_rate_rewarms_after_a_warm_start():
    # the inverse square-root decay, times a linear ramp over REWARM_STEPS from the restart
    from train.translation import REWARM_STEPS

    assert lr_factor(399, 100, rewarm_from=399) == pytest.approx(0.5 / REWARM_STEPS)
    assert lr_factor(449, 100, rewarm_from=399) == pytest.approx((100 / 450) ** 0.5 * 51 / REWARM_STEPS)
    assert lr_factor(399 + REWARM_STEPS, 100, rewarm_from=399) == pytest.approx((100 / (400 + REWARM_STEPS)) ** 0.5)
    assert lr_factor(300, 100, rewarm_from=399) == lr_factor(300, 100)  # before the restart: unchanged


def test_resume_without_a_checkpoint_continues_from_the_exported_weights(tiny_tsv, tmp_path, capsys):
    """A fresh checkout has the exported weights and card but no checkpoints/: --resume goes on
    from them (step, epoch, curve and sittings), and the card says the optimiser state was lost."""
    from train.translation import warm_start

    common = ["--arch", "rnnsearch", "--tsv", str(tiny_tsv), "--vocab", "40", "--emb", "16", "--hidden", "16",
              "--max-tokens", "200", "--eval-every", "2", "--out", str(tmp_path), "--checkpoints", str(tmp_path / "ck")]
    main(common + ["--max-steps", "4"])
    card_file = tmp_path / "translation-rnnsearch-tiny.json"
    first = json.loads(card_file.read_text())
    best = first["best_step"]
    for ckpt in (tmp_path / "ck").glob("*.pt"):  # the checkpoints died with their checkout
        ckpt.unlink()
    capsys.readouterr()
    main(common + ["--max-steps", "8", "--resume"])
    assert f"continuing from {tmp_path / 'translation-rnnsearch-tiny.safetensors'} at step {best}" in capsys.readouterr().out
    card = json.loads(card_file.read_text())
    assert card["metrics"]["train_steps"] == 8 and card["rewarms"] == [best]
    assert [h["step"] for h in card["dev_history"]] == [s for s in (2, 4) if s <= best] + list(range(best + 2, 9, 2))
    assert card["dev_history"][: best // 2] == first["dev_history"][: best // 2]
    assert [(r["from_step"], r["to_step"]) for r in card["runs"]] == [(0, 4), (best, 8)]
    assert "warm start" in card["runs"][1]["start"] and "warm-started" in card["training"]
    assert "start" not in card["runs"][0]

    # what warm_start loads is exactly the exported model
    from models.translation.nets import NetConfig, build_model

    card_file.write_text(json.dumps({**card, "stopped_by": "step cap 8"}))  # (four flat evaluations: a plateau)
    exported = Translator.load(tmp_path / "translation-rnnsearch-tiny.safetensors")
    protos = {"src": exported.sp_src.serialized_model_proto(), "tgt": exported.sp_tgt.serialized_model_proto()}
    model = build_model(exported.cfg)
    state = warm_start(tmp_path, "rnnsearch-tiny", exported.cfg, protos, model, "cpu")
    assert state["step"] == card["best_step"] and state["rewarms"] == [best]
    for key, value in exported.model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[key], value)
    # nothing to continue: another configuration, other sentencepiece models, a plateau reached
    other = NetConfig(**{**exported.cfg.to_dict(), "hidden": 32})
    assert warm_start(tmp_path, "rnnsearch-tiny", other, protos, build_model(other), "cpu") is None
    assert warm_start(tmp_path, "rnnsearch-tiny", exported.cfg, {**protos, "tgt": b"x"}, model, "cpu") is None
    card_file.write_text(json.dumps({**card, "stopped_by": "plateau: dev BLEU gained < 0.3"}))
    assert warm_start(tmp_path, "rnnsearch-tiny", exported.cfg, protos, model, "cpu") is None
    assert "plateau" in capsys.readouterr().out
