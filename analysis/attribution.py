"""Class attributions with Captum, and how far maps agree and how faithful they are.

Attributions for class c of a classifier f on a (1, 3, S, S) normalised input x:

    Grad-CAM (Selvaraju et al. 2017), captum LayerGradCam on a late feature map A (K, h, w):
        α_k = mean_{u,v} ∂f_c/∂A_k(u,v);   map = ReLU(Σ_k α_k A_k)             (h, w)
    Integrated Gradients (Sundararajan et al. 2017), baseline x' (a grey image):
        IG(x) = (x − x') ⊙ ∫_0^1 ∂f_c(x' + t(x − x'))/∂x dt, summed |·| over RGB  (S, S)
    Occlusion (Zeiler & Fergus 2014): the drop in f_c when a window is set to x'    (S, S)

Every map is returned as a float32 numpy array with the *photo's* (H, W), upsampled
bilinearly. f_c is the logit (not the probability), as Captum's examples do.

Agreement between maps (all resampled to one small grid so each pixel weighs the same):

    Spearman ρ = Pearson correlation of the ranks (ties get their average rank)
    top-k overlap = |top_k(A) ∩ top_k(B)| / k, with k a fraction of the pixels

Deletion (Petsiuk et al. 2018, RISE): remove the most important pixels first (set them
to the baseline grey), fraction t from 0 to 1, and track p(c | image). A faithful map
makes the probability fall fast, so a *lower* area under the curve is better.

Cost on 2 CPU cores at S = 224 is kept small: IG uses ``n_steps`` Gauss-Legendre
nodes (the page defaults to 8) in batches of 8, Occlusion a 56-pixel window with
stride 28 (7 × 7 = 49 forward passes in batches of 25), deletion 21 images in one batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import rankdata

METHODS = ("Grad-CAM", "Integrated Gradients", "Occlusion")


def to_shape(saliency, shape: tuple[int, int]) -> np.ndarray:
    """Any 2-D map (torch or numpy) -> float32 numpy (H, W), bilinear."""
    t = torch.as_tensor(np.asarray(saliency, dtype=np.float32) if not isinstance(saliency, torch.Tensor)
                        else saliency.detach().float().cpu())
    if t.ndim != 2:
        raise ValueError(f"a saliency map must be 2-D, got shape {tuple(t.shape)}")
    if tuple(t.shape) == tuple(shape):
        return t.numpy().astype(np.float32, copy=True)
    up = F.interpolate(t[None, None], size=tuple(int(s) for s in shape), mode="bilinear",
                       align_corners=False, antialias=t.shape[0] > shape[0] or t.shape[1] > shape[1])
    return up[0, 0].numpy().astype(np.float32)


def _device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


def gradcam(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor, target: int) -> torch.Tensor:
    """LayerGradCam on ``layer``'s output, ReLU applied: (h, w) at the layer's resolution."""
    from captum.attr import LayerGradCam

    attr = LayerGradCam(model, layer).attribute(x, target=int(target), relu_attributions=True)
    return attr[0].sum(dim=0).detach()  # (1, 1, h, w) -> (h, w)


def integrated_gradients(model: torch.nn.Module, x: torch.Tensor, target: int, n_steps: int = 16,
                         batch: int = 8) -> torch.Tensor:
    from captum.attr import IntegratedGradients

    attr = IntegratedGradients(model).attribute(
        x, baselines=torch.zeros_like(x), target=int(target), n_steps=int(n_steps),
        internal_batch_size=int(batch), method="gausslegendre")
    return attr[0].abs().sum(dim=0).detach()  # (3, S, S) -> (S, S)


def occlusion(model: torch.nn.Module, x: torch.Tensor, target: int, window: int = 56, stride: int = 28,
              batch: int = 32) -> torch.Tensor:
    from captum.attr import Occlusion

    attr = Occlusion(model).attribute(
        x, sliding_window_shapes=(3, window, window), strides=(3, stride, stride),
        baselines=0.0, target=int(target), perturbations_per_eval=int(batch))
    return attr[0].sum(dim=0).detach()  # same value on each channel of a window; sum is fine


def captum_maps(model: torch.nn.Module, layer: torch.nn.Module, x: torch.Tensor, target: int,
                image_shape: tuple[int, int], methods=METHODS, n_steps: int = 16,
                window: int = 56, stride: int = 28, progress=None) -> dict[str, np.ndarray]:
    """The chosen Captum maps for class ``target``, each upsampled to ``image_shape``.

    ``progress(i, n, name)`` is called before each method so a page can show progress.
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown attribution methods {unknown}; choose from {METHODS}")
    if not 0 <= int(target) < 1000:
        raise ValueError(f"class {target} is not an ImageNet class index (0..999)")
    was_training = model.training
    model.eval()
    x = x.to(_device(model)).detach()
    out: dict[str, np.ndarray] = {}
    try:
        for n, name in enumerate(methods):
            if progress is not None:
                progress(n, len(methods), name)
            if name == "Grad-CAM":
                m = gradcam(model, layer, x, target)
            elif name == "Integrated Gradients":
                m = integrated_gradients(model, x, target, n_steps=n_steps)
            else:
                m = occlusion(model, x, target, window=window, stride=stride)
            out[name] = to_shape(m, image_shape)
    finally:
        model.train(was_training)
    if progress is not None:
        progress(len(methods), len(methods), "done")
    return out


def _pool(saliency: np.ndarray, size: int) -> np.ndarray:
    t = torch.as_tensor(np.asarray(saliency, dtype=np.float32))
    if t.ndim != 2:
        raise ValueError(f"a saliency map must be 2-D, got shape {tuple(t.shape)}")
    return F.adaptive_avg_pool2d(t[None, None], (size, size))[0, 0].numpy().ravel()


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = rankdata(a), rankdata(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")  # a constant map has no ranking to compare
    return float(np.corrcoef(ra, rb)[0, 1])


def top_k_overlap(a: np.ndarray, b: np.ndarray, fraction: float = 0.1) -> float:
    if not 0 < fraction <= 1:
        raise ValueError(f"top-k fraction must lie in (0, 1], got {fraction}")
    k = max(1, int(round(fraction * a.size)))
    # stable sort so ties are broken the same way for both maps
    ta = set(np.argsort(-a, kind="stable")[:k].tolist())
    tb = set(np.argsort(-b, kind="stable")[:k].tolist())
    return len(ta & tb) / k


@dataclass(frozen=True)
class Agreement:
    names: tuple[str, ...]
    spearman: np.ndarray   # (n, n), diagonal 1
    overlap: np.ndarray    # (n, n), diagonal 1
    fraction: float
    grid: int


def agreement(maps: dict[str, np.ndarray], grid: int = 56, fraction: float = 0.1) -> Agreement:
    """Spearman ρ and top-k overlap for every pair of maps (each pooled to grid × grid)."""
    names = tuple(maps)
    flat = [_pool(maps[n], grid) for n in names]
    n = len(names)
    rho = np.eye(n)
    ovl = np.eye(n)
    for i in range(n):
        for j in range(i + 1, n):
            rho[i, j] = rho[j, i] = spearman(flat[i], flat[j])
            ovl[i, j] = ovl[j, i] = top_k_overlap(flat[i], flat[j], fraction)
    return Agreement(names, rho, ovl, fraction, grid)


@dataclass(frozen=True)
class DeletionCurve:
    fractions: np.ndarray      # (steps + 1,) from 0 to 1
    probabilities: np.ndarray  # (steps + 1,) p(target) after removing that fraction
    auc: float                 # trapezoid area under the curve; lower = more faithful


@torch.inference_mode()
def deletion_curve(model: torch.nn.Module, x: torch.Tensor, target: int, saliency: np.ndarray,
                   steps: int = 20, batch: int = 32) -> DeletionCurve:
    """Delete the most salient input pixels first (to the baseline 0 = grey) and track p(target).

    ``x`` is the (1, 3, S, S) model input; ``saliency`` any 2-D map, resampled to S × S.
    """
    if steps < 1:
        raise ValueError("steps must be at least 1")
    s_h, s_w = x.shape[-2:]
    sal = torch.from_numpy(to_shape(saliency, (s_h, s_w))).flatten()
    n = sal.numel()
    # Ties in a flat map would be broken by position (top-left first): a random
    # permutation with a fixed seed keeps that from favouring one corner.
    gen = torch.Generator().manual_seed(0)
    jitter = torch.randperm(n, generator=gen).float() * 1e-12 * (sal.abs().max() + 1e-12)
    order = torch.argsort(sal + jitter, descending=True)
    rank = torch.empty(n, dtype=torch.long)
    rank[order] = torch.arange(n)
    fractions = np.linspace(0.0, 1.0, steps + 1)
    counts = torch.tensor(np.round(fractions * n).astype(np.int64))
    device = _device(model)
    probs = []
    for start in range(0, len(counts), batch):
        c = counts[start:start + batch]
        keep = (rank[None, :] >= c[:, None]).float().reshape(-1, 1, s_h, s_w)  # (b, 1, S, S)
        xb = x.to("cpu") * keep  # removed pixels -> 0, the normalised grey baseline
        logits = model(xb.to(device))
        probs.append(torch.softmax(logits.float(), dim=1)[:, int(target)].cpu())
    p = torch.cat(probs).numpy().astype(np.float64)
    auc = float(np.trapezoid(p, fractions)) if hasattr(np, "trapezoid") else float(np.trapz(p, fractions))
    return DeletionCurve(fractions=fractions, probabilities=p, auc=auc)
