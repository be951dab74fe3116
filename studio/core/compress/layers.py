"""Layer-by-layer distillation of a BERT-style Hugging Face encoder (TinyBERT, Jiao et al. 2020; MiniLM's and
DistilBERT's students learnt the same way): besides the model's output, the student's hidden states after
each encoder layer learn the teacher's at the matching layer, on every token the attention mask keeps, by
cosine + squared error relative to the teacher's power (the embedding loss, per token). One sentence then
teaches thousands of numbers instead of one embedding. How close a pruned encoder comes depends most on how
much text like the user's it learns from: all-MiniLM-L6-v2 with 30 % of its heads and neurons removed
reached cosine 0.90 on held-out sentences from 2,106 sentences, 0.95 from 23,808 (benchmarks/RESULTS.md).

A pruned encoder keeps its hidden size (compress/heads), so its states compare with the teacher's as they
are; a student with fewer layers (distill's `{layers: …}`) matches its layer i to the teacher's last layer of
group i (DistilBERT's every-other-layer student: 0→1, 1→3, 2→5). The teacher runs on each batch beside the
student, so no per-token state is held in memory. Batches group sentences of similar length and are cut
to their longest one (trailing padding), which makes training on short sentences several times faster;
a BERT-style encoder's outputs do not depend on padding its attention mask hides. TinyBERT's augmentation
(words of each sentence replaced by others) is not done: replacing 30 % of the tokens by random words of
the vocabulary cost all-MiniLM-L6-v2 0.007 cosine on held-out sentences (benchmarks/RESULTS.md: Hugging Face)."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F

from studio.core.compress.heads import encoder_layers
from studio.core.errors import StudioError
from studio.core.formats.model import Model, TensorSpec

LAYER_WEIGHT = 1.0  # weight of the hidden-state loss (mean over the matched layers) beside the output's
GROUP = 16  # length-grouped batches: sentences are sorted by length within windows of GROUP batches


def hf_model(module: torch.nn.Module) -> torch.nn.Module:
    """The transformers model inside the studio's TextModel (formats/load_hf), or the module itself."""
    return getattr(module, "model", module)


def layer_pairs(student: torch.nn.Module, teacher: torch.nn.Module) -> list[tuple[int, int]] | None:
    """(student layer, teacher layer) index pairs whose hidden states are compared, or None when the two
    are not BERT-style encoders of one hidden size whose layer counts divide."""
    s, t = encoder_layers(hf_model(student)), encoder_layers(hf_model(teacher))
    if not s or not t or len(t) % len(s) or _width(s[-1][1]) != _width(t[-1][1]):
        return None
    step = len(t) // len(s)
    return [(i, (i + 1) * step - 1) for i in range(len(s))]


def layer_match(student: torch.nn.Module, inputs: list[TensorSpec], teacher: Model | None, output: int = 0) -> LayerMatch | None:
    """The layer-by-layer match of the module being trained (taking `inputs`) with the teacher version, where
    both are BERT-style PyTorch encoders taking the same inputs whose layers pair up (layer_pairs); else None
    (the output alone is learnt). `output`: the teacher's output the student's learns."""
    if teacher is None or teacher.module is None or [s.name for s in inputs] != [s.name for s in teacher.inputs]:
        return None
    pairs = layer_pairs(student, teacher.module)
    if pairs is None:
        return None
    return LayerMatch(student, teacher.module, [s.name for s in inputs], pairs, output=output)


def made_from(student: torch.nn.Module, teacher: torch.nn.Module) -> bool:
    """Whether the student was made from the teacher (its token embeddings are still the teacher's): only then
    do its hidden states live in the teacher's coordinates (another pretrained encoder's do not)."""
    get = [getattr(hf_model(m), "get_input_embeddings", None) for m in (student, teacher)]
    if not all(callable(g) for g in get):
        return False
    a, b = (g() for g in get)
    return (a is not None and b is not None and a.weight.shape == b.weight.shape
            and bool(torch.equal(a.weight.detach().cpu(), b.weight.detach().cpu())))


def _width(layer: torch.nn.Module) -> int:
    return layer.output.dense.out_features


class LayerMatch:
    """Runs (a copy of) the teacher on a batch and gives the hidden-state loss of the student's last forward
    pass. `names`: the models' input names in their positional order (attention_mask among them masks
    tokens); `output`: the teacher's output that the student's learns. Hooks stay on `student` until close()."""

    def __init__(self, student: torch.nn.Module, teacher: torch.nn.Module, names: list[str], pairs: list[tuple[int, int]],
                 weight: float = LAYER_WEIGHT, output: int = 0):
        teacher = copy.deepcopy(teacher).eval()  # hooked and moved to the training device: never the version the window holds
        for p in teacher.parameters():
            p.requires_grad_(False)
        self.teacher, self.names, self.pairs, self.weight, self.output = teacher, list(names), pairs, weight, output
        self.mask_at = self.names.index("attention_mask") if "attention_mask" in self.names else None
        self.student_states: dict[int, torch.Tensor] = {}
        self.teacher_states: dict[int, torch.Tensor] = {}
        s_layers = [m for _, m in encoder_layers(hf_model(student))]
        t_layers = [m for _, m in encoder_layers(hf_model(teacher))]
        self.hooks = [s_layers[i].register_forward_hook(self._keep(self.student_states, i)) for i, _ in pairs]
        self.hooks += [t_layers[j].register_forward_hook(self._keep(self.teacher_states, j)) for _, j in pairs]
        self.mask: torch.Tensor | None = None

    @staticmethod
    def _keep(store: dict, index: int):
        def hook(_module, _inputs, out):
            store[index] = out[0] if isinstance(out, (tuple, list)) else out
        return hook

    def close(self) -> None:
        for h in self.hooks:
            h.remove()
        self.hooks = []

    def order(self, order: torch.Tensor, xs: list[torch.Tensor], batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
        """Batches of `order` (a shuffled index) with sentences of similar length together: sorted by length
        within windows of GROUP batches, the batches then shuffled."""
        if self.mask_at is None or xs[self.mask_at].ndim != 2:
            return list(order.split(batch_size))
        lengths = xs[self.mask_at].sum(1)
        batches = []
        for window in order.split(batch_size * GROUP):
            window = window[lengths[window].argsort(descending=True, stable=True)]
            batches += list(window.split(batch_size))
        return [batches[i] for i in torch.randperm(len(batches), generator=generator).tolist()]

    def cut(self, batch: list) -> list:
        """The batch's token inputs cut after the last position any of its sentences uses; remembers the mask."""
        if self.mask_at is None or not isinstance(batch[self.mask_at], torch.Tensor) or batch[self.mask_at].ndim != 2:
            self.mask = None
            return batch
        mask = batch[self.mask_at]
        used = mask.any(0).nonzero()
        end = int(used.max()) + 1 if len(used) else mask.shape[1]
        cut = [t[:, :end] if isinstance(t, torch.Tensor) and t.ndim == 2 and t.shape == mask.shape else t for t in batch]
        self.mask = cut[self.mask_at]
        return cut

    def target(self, batch: list) -> torch.Tensor:
        """The teacher's output on the batch (its hidden states kept for loss())."""
        self.teacher.eval()
        with torch.no_grad():
            out = self.teacher(*batch)
        return out[self.output] if isinstance(out, (tuple, list)) else out

    def loss(self) -> torch.Tensor:
        """Mean over the matched layers of 1 − cosine + relative squared error of the hidden states, per token
        the attention mask keeps; times the weight."""
        total = 0
        for i, j in self.pairs:
            s, t = self.student_states.pop(i), self.teacher_states.pop(j)
            m = (self.mask if self.mask is not None else torch.ones(s.shape[:2], device=s.device)).to(s.dtype).unsqueeze(-1)
            tokens = m.sum().clamp(min=1)
            cos = (F.cosine_similarity(s, t, dim=-1, eps=1e-8).unsqueeze(-1) * m).sum() / tokens
            err = ((s - t).pow(2) * m).sum() / (t.pow(2) * m).sum().clamp(min=1e-12)
            total = total + (1 - cos) + err
        return self.weight * total / max(1, len(self.pairs))


def keep_layers(hf: torch.nn.Module, count: int) -> tuple[int, int]:
    """Keeps `count` of the encoder's layers, in place: the teacher's layers 0, k, 2k… (k = layers ÷ count,
    DistilBERT's initialisation from every other layer), and says so in the config. Returns (before, after)."""
    layers = encoder_layers(hf)
    n = len(layers)
    if not layers:
        raise StudioError("student.layers: no encoder layers with BERT-style attention (attention.self.query…) to keep")
    if not 0 < count < n or n % count:
        raise StudioError(f"student.layers: {count} must be fewer than the teacher's {n} layers and divide them")
    parents = {name.rsplit(".", 1)[0] for name, _ in layers}
    if len(parents) != 1:
        raise StudioError("student.layers: the encoder's layers are not in one list")
    parent = hf.get_submodule(parents.pop())
    if not isinstance(parent, torch.nn.ModuleList) or len(parent) != n:
        raise StudioError("student.layers: the encoder's layers are not in one list")
    kept = range(0, n, n // count)
    for i in reversed(range(n)):
        if i not in kept:
            del parent[i]  # the list numbers the rest again
    for index, layer in enumerate(parent):
        for m in layer.modules():  # transformers numbers the layers (caches are indexed by it)
            if isinstance(getattr(m, "layer_idx", None), int):
                m.layer_idx = index
    config = getattr(hf, "config", None)
    if config is not None and hasattr(config, "num_hidden_layers"):
        config.num_hidden_layers = count
    return n, count
