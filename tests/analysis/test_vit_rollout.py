"""cls_rollout on a hand-made (layer, head, query, key) record: the class token's rollout row over the patches."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from analysis.vit import cls_rollout
from models.records import AttentionMap

# tokens: [CLS], patch (0, 0), patch (0, 1); two heads
HEAD0 = [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]
HEAD1 = [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


def _record(weights, meta=None):
    w = torch.tensor(weights, dtype=torch.float32)
    return AttentionMap("encoder.self", "self", w, ("layer", "head", "query", "key"), meta=meta or {})


def test_mean_and_max_fusion_by_hand():
    rec = _record([[HEAD0, HEAD1]], meta={"model": "tiny"})
    # mean: class row [0, .75, .25]; ½I + ½mean -> [.5, .375, .125]; the patches are the last two
    roll = cls_rollout(rec, (1, 2), n_prefix=1)
    assert roll.name == "encoder.cls.rollout" and roll.kind == "self"
    assert roll.axes == ("layer", "key") and roll.grid == (1, 2)
    torch.testing.assert_close(roll.weights, torch.tensor([[0.375, 0.125]]))
    assert dict(roll.meta) == {"model": "tiny", "derived": "rollout", "head_fusion": "mean"}
    # max: class row [0, 1, .5]; ½I + ½max = [.5, .5, .25], renormalised by 1.25 -> [.4, .4, .2]
    roll = cls_rollout(rec, (1, 2), n_prefix=1, head_fusion="max")
    torch.testing.assert_close(roll.weights, torch.tensor([[0.4, 0.2]]))
    assert roll.meta["head_fusion"] == "max"


def test_two_prefix_tokens_and_two_layers():
    # tokens: [CLS], [DIST], two patches; layer 2 attends uniformly
    a1 = np.array([[0.0, 0.0, 1.0, 0.0], [0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    a2 = np.full((4, 4), 0.25)
    rec = _record(np.stack([a1[None], a2[None]]).tolist())  # (2 layers, 1 head, 4, 4)
    step1 = 0.5 * np.eye(4) + 0.5 * a1
    step2 = 0.5 * np.eye(4) + 0.5 * a2
    expected = np.stack([step1[0, 2:], (step2 @ step1)[0, 2:]])  # class row, patches only
    roll = cls_rollout(rec, (2, 1), n_prefix=2)
    assert roll.grid == (2, 1) and tuple(roll.weights.shape) == (2, 2)
    np.testing.assert_allclose(roll.numpy(), expected, atol=1e-6)
    np.testing.assert_allclose(expected[0], [0.5, 0.0])  # the class token's own half stays on [CLS]


def test_wrong_axes_and_token_counts_are_refused():
    rec = _record([[HEAD0, HEAD1]])
    with pytest.raises(ValueError, match=r"^3 tokens do not match 1 \+ 2 x 2$"):
        cls_rollout(rec, (2, 2), n_prefix=1)
    with pytest.raises(ValueError, match=r"^3 tokens do not match 2 \+ 1 x 2$"):
        cls_rollout(rec, (1, 2), n_prefix=2)
    flat = AttentionMap("x", "self", torch.eye(3), ("query", "key"))
    with pytest.raises(ValueError, match=r"^need a \(layer, head, query, key\) record, got axes \('query', 'key'\)$"):
        cls_rollout(flat, (1, 2), n_prefix=1)
