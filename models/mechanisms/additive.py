"""Additive attention (Bahdanau, Cho & Bengio 2015, "Neural Machine Translation by
Jointly Learning to Align and Translate", eq. 6 and appendix A.1.2), also the soft
attention of Show, Attend and Tell (Xu et al. 2015, eq. 4-6 and the gate of 4.2.1).

Bahdanau: the decoder's previous state s_{i-1} scores every source annotation h_j:

    e_ij  = v_a^T tanh(W_a s_{i-1} + U_a h_j)
    a_ij  = exp(e_ij) / sum_k exp(e_ik)
    c_i   = sum_j a_ij h_j

Show, Attend and Tell uses the same function with the LSTM's previous hidden state
h_{t-1} as the query and the annotation vectors a_i of the image grid as keys and values
(e_ti = w^T tanh(W_a a_i + W_h h_{t-1})), then gates the context with a scalar:

    beta_t = sigmoid(f_beta(h_{t-1}))          z_t = beta_t * sum_i alpha_ti a_i

Shapes of ``additive_attention``:
    query_proj  (B, A)      W_a s_{i-1}     (the query, projected)
    keys_proj   (B, S, A)   U_a h_j         (computed once per sentence or image)
    v           (A,)        v_a
    values      (B, S, D)   h_j
    mask        (B, S) bool, True where a key may be attended (or None)
    returns context (B, D), weights (B, S); rows sum to 1 over unmasked keys

``gated_context(context, gate_logit)`` returns (beta * context (B, D), beta (B, 1)).
A bias added to every e_ij (as in a Linear layer with bias) cancels in the softmax, so
it is left out here.

The networks that use these (RNNsearch in models/translation/nets.py, the captioner in
models/show_attend_tell.py) wrap the weights into AttentionMap records.
"""

from __future__ import annotations

import torch

from models.mechanisms.base import masked_softmax


def additive_attention(query_proj: torch.Tensor, keys_proj: torch.Tensor, v: torch.Tensor,
                       values: torch.Tensor, mask: torch.Tensor | None = None):
    """Bahdanau's alignment model; see the module docstring for shapes."""
    energy = torch.tanh(query_proj.unsqueeze(1) + keys_proj) @ v      # (B, S)
    weights = masked_softmax(energy, mask)                              # (B, S)
    context = torch.bmm(weights.unsqueeze(1), values).squeeze(1)        # (B, D)
    return context, weights


def gated_context(context: torch.Tensor, gate_logit: torch.Tensor):
    """Show, Attend and Tell's gate: beta = sigmoid(f_beta(h_{t-1})) scales the context."""
    beta = torch.sigmoid(gate_logit)                                    # (B, 1)
    return beta * context, beta                                         # (B, D), (B, 1)
