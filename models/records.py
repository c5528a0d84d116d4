"""The one record type every mechanism returns: ``AttentionMap``.

Whatever the paper (RNNsearch alignments, Transformer heads, Non-local affinity,
CBAM masks, DNL terms, SAGAN maps), a model hands back its ordinary output plus a
tuple of ``AttentionMap`` records, so that ``analysis/`` and ``viz/`` never need to
know where a map came from.

Rules (see DESIGN.md): weights are taken after softmax/sigmoid and before dropout,
in eval mode, under ``torch.inference_mode()``; records are frozen; conversion to
numpy happens here and nowhere else (``AttentionMap.numpy``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

import numpy as np
import torch

KINDS = ("alignment", "self", "cross", "spatial", "channel", "affinity", "pairwise", "unary", "gate")

# Axis names a record may use. "query"/"key" index tokens or flattened positions;
# "h"/"w" index an image grid; "layer"/"head"/"channel"/"step" are what they say.
AXES = ("layer", "head", "query", "key", "h", "w", "channel", "step", "batch")


@dataclass(frozen=True, eq=False)
class AttentionMap:
    """One attention tensor with the names of its axes.

    name          stable key, e.g. "encoder.self", "cbam.2.spatial", "dnl.unary"
    kind          one of KINDS
    weights       tensor whose axes are named in ``axes``
    axes          e.g. ("layer", "head", "query", "key") or ("h", "w")
    grid          (h, w) when query/key index flattened image positions
    query_labels  token strings along the "query" axis, when they are tokens
    key_labels    token strings along the "key" axis, when they are tokens
    causal        True when keys after the query are masked out
    meta          small extra facts (e.g. {"model": "...", "normalised": "softmax"})
    """

    name: str
    kind: str
    weights: torch.Tensor
    axes: tuple[str, ...]
    grid: tuple[int, int] | None = None
    query_labels: tuple[str, ...] | None = None
    key_labels: tuple[str, ...] | None = None
    causal: bool = False
    meta: Mapping[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {self.kind!r}")
        if not isinstance(self.weights, torch.Tensor):
            raise TypeError(f"weights must be a torch.Tensor, got {type(self.weights).__name__}")
        unknown = [a for a in self.axes if a not in AXES]
        if unknown:
            raise ValueError(f"unknown axis names {unknown}; allowed: {AXES}")
        if len(set(self.axes)) != len(self.axes):
            raise ValueError(f"axis names repeat: {self.axes}")
        if len(self.axes) != self.weights.ndim:
            raise ValueError(
                f"{self.name}: {len(self.axes)} axis names {self.axes} for a tensor of "
                f"shape {tuple(self.weights.shape)}"
            )
        for axis, labels in (("query", self.query_labels), ("key", self.key_labels)):
            if labels is None:
                continue
            if axis not in self.axes:
                raise ValueError(f"{self.name}: {axis}_labels given but no {axis!r} axis")
            size = self.size(axis)
            if len(labels) != size:
                raise ValueError(f"{self.name}: {len(labels)} {axis} labels for {size} positions")
        if self.grid is not None:
            h, w = self.grid
            flat = [a for a in ("query", "key") if a in self.axes]
            if flat and all(self.size(a) != h * w for a in flat):
                raise ValueError(f"{self.name}: grid {self.grid} does not match axes {flat}")
        # Freeze the tensor too: a record is a snapshot, not a view into a live model.
        object.__setattr__(self, "weights", self.weights.detach())

    def size(self, axis: str) -> int:
        return int(self.weights.shape[self.axes.index(axis)])

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.weights.shape)

    def numpy(self) -> np.ndarray:
        """The weights as a float32 numpy array on the CPU (the one conversion point)."""
        return self.weights.detach().to("cpu", torch.float32).numpy()

    def select(self, **index: int) -> "AttentionMap":
        """Fix some axes, e.g. ``record.select(layer=3, head=5)``; the rest stay named."""
        weights = self.weights
        axes = list(self.axes)
        for axis, i in index.items():
            if axis not in axes:
                raise ValueError(f"{self.name} has no axis {axis!r}; axes are {tuple(axes)}")
            n = weights.shape[axes.index(axis)]
            if not -n <= i < n:
                raise IndexError(f"{axis} index {i} out of range for size {n}")
            weights = weights.select(axes.index(axis), i)
            axes.remove(axis)
        return AttentionMap(
            name=self.name + "".join(f".{k}{v}" for k, v in index.items()),
            kind=self.kind,
            weights=weights,
            axes=tuple(axes),
            grid=self.grid,
            query_labels=self.query_labels if "query" in axes else None,
            key_labels=self.key_labels if "key" in axes else None,
            causal=self.causal,
            meta=self.meta,
        )


    def item(self, index: int, query_labels=None, key_labels=None) -> "AttentionMap":
        """One sample of a batched record (its "batch" axis dropped), keeping the name,
        with token labels attached when given."""
        if "batch" not in self.axes:
            raise ValueError(f"{self.name} has no batch axis; axes are {self.axes}")
        axis = self.axes.index("batch")
        return AttentionMap(
            name=self.name, kind=self.kind, weights=self.weights.select(axis, index),
            axes=tuple(a for a in self.axes if a != "batch"), grid=self.grid,
            query_labels=query_labels, key_labels=key_labels, causal=self.causal, meta=self.meta,
        )


def by_name(records: tuple[AttentionMap, ...] | list[AttentionMap], name: str) -> AttentionMap:
    """Pick one record from a model's output by its stable name."""
    for record in records:
        if record.name == name:
            return record
    raise KeyError(f"no attention record named {name!r}; have {[r.name for r in records]}")
