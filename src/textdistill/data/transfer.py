"""The transfer set: the texts a teacher labels and a student learns from."""

from __future__ import annotations

import dataclasses
import time

from ..errors import DataError
from .readers import TextDataset


def transfer_texts(train: TextDataset, unlabeled: list[TextDataset], exclude: TextDataset | None = None):
    """Training texts first, then unlabeled texts not already present (a text is labelled and learned once).

    Texts of ``exclude`` (the dev set) are kept out, so model selection never scores a text the student was
    taught on.
    """
    texts = list(train.texts)
    pairs = list(train.pairs) if train.pairs is not None else None
    seen = set(zip(texts, pairs)) if pairs is not None else set(texts)
    if exclude is not None:
        seen |= set(zip(exclude.texts, exclude.pairs)) if exclude.pairs is not None else set(exclude.texts)
    for extra in unlabeled:
        if (extra.pairs is None) != (pairs is None):
            raise DataError(f"{extra.source}: the training data {'has' if pairs is not None else 'has no'} text "
                            f"pairs but this file {'does not' if extra.pairs is None else 'does'}")
        for i, text in enumerate(extra.texts):
            key = (text, extra.pairs[i]) if pairs is not None else text
            if key in seen or not text.strip():
                continue
            seen.add(key)
            texts.append(text)
            if pairs is not None:
                pairs.append(extra.pairs[i])
    return texts, pairs


def augment_texts_of(train: TextDataset, config, mask_token: str | None = None, progress: bool = True):
    """(augmented copies of the training texts as an unlabeled dataset, seconds taken); ``mask_token``: the teacher
    tokenizer's own, when it has one."""
    from .augment import Augmenter

    if mask_token and mask_token != config.mask_token:
        config = dataclasses.replace(config, mask_token=mask_token)
    started = time.perf_counter()
    texts, pairs, _ = Augmenter(config).fit_augment(train.texts, train.pairs, progress=progress)
    return TextDataset(texts, pairs, None, source="augmentation"), time.perf_counter() - started
