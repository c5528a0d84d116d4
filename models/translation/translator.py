"""A trained translation model with its subword vocabularies, in one safetensors file.

The file holds the weights (fp16), the two sentencepiece models as uint8 tensors
("spm.src", "spm.tgt"), and the NetConfig as JSON in the metadata, so the page needs
nothing from data/ (which is git-ignored). ``Translator.translate`` decodes (greedy or
beam) and then reads the chosen hypothesis' attention by one teacher-forced pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from models.records import AttentionMap
from models.weights import ASSETS
from models.translation.nets import BOS, EOS, NetConfig, beam_search, build_model, greedy, sentence_attention

MAX_SRC_TOKENS = 200  # subwords read from the source; longer input is cut (the page says so)


def weights_path(arch: str, folder: Path = ASSETS) -> Path:
    return folder / f"translation-{arch}.safetensors"


def card_path(arch: str, folder: Path = ASSETS) -> Path:
    return folder / f"translation-{arch}.json"


def save_translator(model, cfg: NetConfig, spm_src: bytes, spm_tgt: bytes, path: Path,
                    dtype=torch.float16) -> None:
    tensors = {k: v.detach().to("cpu", dtype).contiguous() if v.is_floating_point() else v.detach().cpu()
               for k, v in model.state_dict().items()}
    tensors["spm.src"] = torch.frombuffer(bytearray(spm_src), dtype=torch.uint8).clone()
    tensors["spm.tgt"] = torch.frombuffer(bytearray(spm_tgt), dtype=torch.uint8).clone()
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(path), metadata={"config": json.dumps(cfg.to_dict())})


@dataclass(frozen=True, eq=False)
class Translation:
    src_pieces: tuple[str, ...]     # source subwords + "</s>" (the keys)
    out_pieces: tuple[str, ...]     # emitted subwords + "</s>" (the alignment rows)
    text: str
    records: tuple[AttentionMap, ...]
    n_src_cut: int                  # source subwords dropped at MAX_SRC_TOKENS


class Translator:
    def __init__(self, model, cfg: NetConfig, sp_src, sp_tgt, device=None):
        self.model, self.cfg, self.sp_src, self.sp_tgt = model, cfg, sp_src, sp_tgt
        self.device = device or torch.device("cpu")

    @classmethod
    def load(cls, path: Path | str, device=None) -> "Translator":
        import sentencepiece as spm
        from safetensors import safe_open

        path = Path(path)
        with safe_open(str(path), framework="pt") as f:
            cfg = NetConfig(**json.loads(f.metadata()["config"]))
        tensors = load_file(str(path))
        sp_src = spm.SentencePieceProcessor(model_proto=tensors.pop("spm.src").numpy().tobytes())
        sp_tgt = spm.SentencePieceProcessor(model_proto=tensors.pop("spm.tgt").numpy().tobytes())
        model = build_model(cfg)
        model.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in tensors.items()})
        device = device or torch.device("cpu")
        return cls(model.to(device).eval(), cfg, sp_src, sp_tgt, device)

    @property
    def arch(self) -> str:
        return self.cfg.arch

    def source_ids(self, text: str) -> tuple[list[int], int]:
        ids = self.sp_src.encode(text)
        cut = max(0, len(ids) - MAX_SRC_TOKENS)
        return ids[:MAX_SRC_TOKENS] + [EOS], cut

    @torch.inference_mode()
    def translate(self, text: str, beam: int = 1, max_len: int = 160) -> Translation:
        ids, cut = self.source_ids(text)
        src = torch.tensor([ids], device=self.device)
        # a translation more than twice as long as its source is a runaway, not a translation
        max_len = min(max_len, 2 * len(ids) + 10)
        out = greedy(self.model, src, max_len)[0] if beam == 1 else beam_search(self.model, src, beam, max_len)
        return self.forced(ids, out, cut)

    @torch.inference_mode()
    def forced(self, src_ids: list[int], out_ids: list[int], n_src_cut: int = 0) -> Translation:
        """Attention while emitting ``out_ids`` (teacher forcing), e.g. a reference translation."""
        src_pieces = tuple(self.sp_src.id_to_piece(i) for i in src_ids[:-1]) + ("</s>",)
        out_pieces = tuple(self.sp_tgt.id_to_piece(i) for i in out_ids) + ("</s>",)
        src = torch.tensor([src_ids], device=self.device)
        tgt_in = torch.tensor([[BOS] + list(out_ids)], device=self.device)
        records = sentence_attention(self.model, src, tgt_in, src_pieces, out_pieces)
        return Translation(src_pieces, out_pieces, self.sp_tgt.decode(list(out_ids)), records, n_src_cut)


def word_index(pieces) -> np.ndarray:
    """Word number of each sentencepiece piece ("▁" opens a word); "</s>" gets -1."""
    out, w = [], -1
    for p in pieces:
        if p == "</s>":
            out.append(-1)
            continue
        if p.startswith("▁") or w < 0:
            w += 1
        out.append(w)
    return np.array(out, dtype=np.int64)
