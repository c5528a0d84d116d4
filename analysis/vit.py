"""Class-token maps of a vision transformer: per head, and rolled out over layers.

Input: the "encoder.self" record (layer, head, T, T) of models.pretrained.hf_vision with n_prefix
tokens before the gh·gw patches. Rollout (Abnar & Zuidema 2020, analysis/rollout.py):

    R_l = Â_l · … · Â_1,  Â_l = ½·mean_h A_{l,h} + ½·I   (T, T)

and the class token's row of R_L over the patches, reshaped to (gh, gw), is the map.
Returned as a record "encoder.cls.rollout" with axes (layer, key) and grid (gh, gw),
kind "self" (derived from self-attention; meta says so).
"""

from __future__ import annotations

import torch

from analysis.rollout import rollout
from models.records import AttentionMap


def cls_rollout(self_record: AttentionMap, grid: tuple[int, int], n_prefix: int,
                head_fusion: str = "mean") -> AttentionMap:
    if self_record.axes != ("layer", "head", "query", "key"):
        raise ValueError(f"need a (layer, head, query, key) record, got axes {self_record.axes}")
    gh, gw = grid
    if self_record.size("key") != n_prefix + gh * gw:
        raise ValueError(f"{self_record.size('key')} tokens do not match {n_prefix} + {gh} x {gw}")
    flow = rollout(self_record.numpy(), head_fusion=head_fusion)  # (layer, T, T)
    rows = torch.from_numpy(flow[:, 0, n_prefix:].copy())  # (layer, P)
    return AttentionMap("encoder.cls.rollout", "self", rows, ("layer", "key"), grid=(gh, gw),
                        meta={**dict(self_record.meta), "derived": "rollout", "head_fusion": head_fusion})
