"""Tiny Hugging Face model folders, made offline with save_pretrained: a BERT with a 90-word vocabulary and
its tokenizer (a BertTokenizerFast over a vocabulary written here), with the head asked for."""

from __future__ import annotations

import json
from pathlib import Path

WORDS = ("the a cat dog sat on mat ran fast slow good bad movie film was is very not i liked it and "
         "what where who why how do does").split()
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS, *LETTERS, *(f"##{c}" for c in LETTERS), ".", ",", "!", "?"]


def tiny_bert(folder: Path, head: str = "sequence", labels: int = 2, seed: int = 0, layers: int = 2) -> Path:
    """head: "sequence" (classification), "token" (classification), "sentence" (a sentence-transformers
    folder: BertModel, mean pooling, normalised) or "base" (BertModel, no pooling config)."""
    import torch
    import transformers
    from transformers import BertConfig, BertTokenizerFast

    transformers.utils.logging.disable_progress_bar()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(VOCAB)}, model_max_length=64)  # transformers 5 takes `vocab`
    assert tokenizer.tokenize("the cat") == ["the", "cat"]
    tokenizer.save_pretrained(folder)
    torch.manual_seed(seed)
    config = BertConfig(vocab_size=len(VOCAB), hidden_size=32, num_hidden_layers=layers, num_attention_heads=2, intermediate_size=37,
                        max_position_embeddings=64, num_labels=labels)
    heads = {"sequence": transformers.BertForSequenceClassification, "token": transformers.BertForTokenClassification}
    cls = heads.get(head, transformers.BertModel)
    cls(config).save_pretrained(folder)
    if head == "sentence":
        (folder / "1_Pooling").mkdir(exist_ok=True)
        (folder / "1_Pooling" / "config.json").write_text(json.dumps({"word_embedding_dimension": 32, "pooling_mode_mean_tokens": True}))
        (folder / "modules.json").write_text(json.dumps([
            {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
            {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
            {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
        ]))
    return folder


def sentences(n: int, seed: int = 0) -> tuple[list[str], list[str]]:
    """n short sentences of the vocabulary and a label for each ("pos" when it says good)."""
    import random

    rng = random.Random(seed)
    good = ["i liked it", "good movie", "very good film", "the film was good", "i liked the movie and the cat"]
    bad = ["bad movie", "not good", "the film was bad", "very bad", "i not liked it"]
    texts, labels = [], []
    for i in range(n):
        text = rng.choice(good if i % 2 else bad) + rng.choice(["", " the cat sat", " a dog ran fast", " on the mat"])
        texts.append(text)
        labels.append("pos" if i % 2 else "neg")
    return texts, labels


def moved_away(model, scale: float = 0.05, seed: int = 0):
    """`model` (a pruned copy) with noise added to its weights, in place: a random model's pooled embedding
    hardly changes when heads go, so there would be nothing for fine-tuning to win back."""
    import torch

    torch.manual_seed(seed)
    with torch.no_grad():
        for p in model.module.parameters():
            p.add_(torch.randn_like(p) * scale)
    return model
