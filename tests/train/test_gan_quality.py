"""The GAN scores against their formulas written out here (Heusel et al. 2017 for FID,
Salimans et al. 2016 for IS), the class histogram, the plateau rule and the training loop's
stop and best-weights bookkeeping."""

import copy

import numpy as np
import pytest
import scipy.linalg
import torch

from models.classifiers import ItemClassifier
from models.gan import SAGAN
from train.gan_quality import class_histogram, fid_and_is, real_floor, sample_quality
from train.sagan import plateaued, train_gan


def _judge(seed=0):
    torch.manual_seed(seed)
    return ItemClassifier().eval()


def _images(n, seed, shift=0.0):
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(n, 1, 28, 28, generator=g) * 2 - 1 + shift).clamp(-1, 1)


def test_class_histogram_counts_every_class_including_empty_ones():
    assert class_histogram(np.array([0, 0, 3, 9])) == [2, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    assert class_histogram(np.array([], dtype=int)) == [0] * 10


@pytest.mark.filterwarnings("ignore::scipy.linalg.LinAlgWarning")  # dead ReLU features of a random judge
def test_fid_is_the_frechet_distance_of_the_judges_penultimate_features():
    judge = _judge()
    real, fake = _images(300, 1), _images(300, 2, shift=0.3)
    with torch.no_grad():
        fr, ff = judge.features(real).double().numpy(), judge.features(fake).double().numpy()
    mu_r, mu_f = fr.mean(0), ff.mean(0)
    s_r, s_f = np.cov(fr, rowvar=False), np.cov(ff, rowvar=False)
    covmean = scipy.linalg.sqrtm(s_r @ s_f).real
    expected = float(((mu_r - mu_f) ** 2).sum() + np.trace(s_r + s_f - 2 * covmean))
    got = fid_and_is(judge, real, fake, batch=128)["fid"]   # batches must not change it
    assert got == pytest.approx(expected, rel=1e-3)
    assert expected > 1e-3


def test_inception_score_is_exp_of_the_mean_kl_to_the_marginal():
    judge = _judge()
    fake = _images(200, 3)
    with torch.no_grad():
        p = torch.softmax(judge(fake).double(), 1).numpy()
    marginal = p.mean(0)
    expected = float(np.exp((p * (np.log(p) - np.log(marginal))).sum(1).mean()))
    assert fid_and_is(judge, _images(50, 4), fake, splits=1)["inception_score"] == pytest.approx(expected, rel=1e-4)


class _OneImage(torch.nn.Module):
    """A collapsed generator: the same image for every z."""

    z_dim = 4

    def __init__(self, image):
        super().__init__()
        self.image = image

    def forward(self, z):
        return self.image.expand(len(z), -1, -1, -1), ()


def test_a_collapsed_generator_fills_one_class_and_scores_far_above_the_real_floor():
    judge = _judge()
    real = _images(400, 5)
    quality = sample_quality(_OneImage(real[:1]), judge, real, 200)
    assert quality["largest_class_share"] == 1.0 and quality["empty_classes"] == 9
    assert sum(quality["class_histogram"]) == 200
    assert quality["inception_score"] == pytest.approx(1.0, abs=1e-4)   # one class for every sample: IS 1
    floor = real_floor(judge, real)
    assert floor["fid_halves"] == [200, 200] and sum(floor["class_histogram_real"]) == 400
    assert quality["fid"] > 10 * floor["fid_real_vs_real"]


@pytest.mark.parametrize("fids, stop", [
    ([5.0, 4.0, 3.0], False),                 # too few evaluations to judge
    ([5.0, 4.0, 3.0, 2.0], False),            # still falling
    ([5.0, 3.0, 4.0, 4.0, 4.0], True),        # the last three are worse than the best before
    ([10.0, 9.8, 9.75, 9.72], True),          # under 3 % better than 10
    ([10.0, 9.0, 9.9, 9.9], False),           # 10 % better than 10
])
def test_plateau_rule(fids, stop):
    assert plateaued(fids) is stop


def test_training_stops_at_the_fid_plateau_and_keeps_the_best_weights(tmp_path):
    images = (np.random.default_rng(0).random((32, 28, 28)) * 255).astype(np.uint8)
    gan = SAGAN(z_dim=8, width=16, attention=False)
    fids = iter([5.0, 3.0, 4.0, 4.0, 4.0, 1.0])
    snapshots = []

    def evaluate(generator):
        snapshots.append(copy.deepcopy(gan.state_dict()))
        return {"fid": next(fids), "inception_score": 1.0, "largest_class_share": 0.5, "empty_classes": 0}

    ckpt = tmp_path / "gan.pt"
    out = train_gan(gan, images, steps=40, batch=4, lr_g=1e-3, lr_d=1e-3, seed=0, device="cpu", checkpoint=ckpt,
                    progress=False, evaluate=evaluate, eval_every=2)
    assert out["steps_run"] == 10 and out["best_step"] == 4 and "plateau" in out["stopped"]["why"]
    assert [p["step"] for p in out["curve"]] == [2, 4, 6, 8, 10]
    for key, value in gan.state_dict().items():
        torch.testing.assert_close(value, snapshots[1][key])
    assert not any(torch.equal(gan.state_dict()[k], snapshots[-1][k]) for k in ("generator.fc.parametrizations.weight.original",))
    # a resumed run that had stopped does not train again and keeps its record
    again = SAGAN(z_dim=8, width=16, attention=False)
    out2 = train_gan(again, images, steps=40, batch=4, lr_g=1e-3, lr_d=1e-3, seed=0, device="cpu", checkpoint=ckpt,
                     resume=True, progress=False, evaluate=evaluate, eval_every=2)
    assert out2["steps_run"] == 10 and out2["best_step"] == 4 and len(out2["curve"]) == 5
    for key, value in again.state_dict().items():
        torch.testing.assert_close(value, snapshots[1][key])


def test_the_gan_without_attention_has_no_attention_layer_and_no_records():
    plain, full = SAGAN(8, 16, attention=False), SAGAN(8, 16)
    images, records = plain.generator(torch.randn(2, 8))
    assert images.shape == (2, 1, 28, 28) and records == ()
    assert plain.discriminator(images)[1] == ()
    assert not any("attn" in k for k in plain.state_dict())
    n_attn = sum(p.numel() for k, p in full.named_parameters() if ".attn." in k)
    assert sum(p.numel() for p in full.parameters()) - sum(p.numel() for p in plain.parameters()) == n_attn > 0
