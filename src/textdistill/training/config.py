"""Optimisation settings of ``distill`` (torch-free, so the command line can read its fields without torch)."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from ..config import option
from ..errors import check

LOSSES = ("kl", "mse", "ce")
SELECT_METRICS = ("accuracy", "macro_f1", "mcc", "micro_f1", "samples_f1", "subset_accuracy")  # by task type
# Defaults that scale with the data. From LARGE_DATA_TEXTS transfer texts up (about 1,000 batches in 3 epochs at
# batch 64) nothing changes: 3 epochs. Below it the epochs grow so that training still takes MIN_STEPS optimizer
# steps (at most MAX_AUTO_EPOCHS), since dev selection keeps the best epoch; the DAN also raises its embedding
# learning rate and keeps n-grams seen once (``students/dan.py``). Measured in ``benchmarks/small_data.py``.
MIN_STEPS = 1000
MAX_AUTO_EPOCHS = 100
LARGE_DATA_TEXTS = 20_000


def auto_epochs(n_texts: int, batch_size: int) -> int:
    """Epochs when none are given: 3, or more on small data (at least MIN_STEPS steps, at most MAX_AUTO_EPOCHS)."""
    steps_per_epoch = max(1, -(-int(n_texts) // int(batch_size)))
    return int(min(MAX_AUTO_EPOCHS, max(3, -(-MIN_STEPS // steps_per_epoch))))


def data_scale(n_texts: int) -> float:
    """How much smaller than LARGE_DATA_TEXTS the data is (1 from there up, at most 30): the factor by which a
    family scales a learning rate that suits large data."""
    return float(min(30.0, max(1.0, LARGE_DATA_TEXTS / max(1, int(n_texts)))))


@dataclass
class TrainConfig:
    """Optimisation settings; every field is a ``distill`` flag."""

    epochs: int | None = option(None, "Epochs over the transfer set (default: 3 from ~20k texts up; on less data "
                                      "more, up to 100, so that training takes ~1,000 steps; dev keeps the best).")
    finetune_epochs: int = option(2, "Epochs on gold labels after distillation (KD+FT); 0 = KD only.")
    batch_size: int = option(64, "Training batch size.")
    lr: float = option(1e-3, "Learning rate of the dense layers.")
    loss: str | None = option(None, "kl (KL to the teacher's distribution), mse (on logits) or ce (gold only). "
                                    "Default: the student family's (kl for dan, mse for bilstm and cnn).")
    temperature: float = option(1.0, "Distillation temperature (kl).")
    alpha: float = option(0.0, "Weight of cross-entropy on gold labels mixed into the distillation loss.")
    finetune_lr_scale: float = option(0.1, "Learning rates of the gold fine-tune, relative to KD's.")
    eval_every: int = option(0, "Also evaluate on dev every N steps (0: once per epoch).")
    select_metric: str | None = option(None, "Dev metric that selects the checkpoint: accuracy, macro_f1 or mcc "
                                             "(multi-label: micro_f1, macro_f1, samples_f1 or subset_accuracy). "
                                             "Default: accuracy (multi-label: micro_f1).")
    seed: int = option(0, "Random seed (initialisation, shuffling, augmentation, strategies).")

    def __post_init__(self):
        check((self.epochs is None or isinstance(self.epochs, int) and self.epochs >= 1) and self.finetune_epochs >= 0,
              "epochs must be >= 1 and finetune_epochs >= 0")
        check(self.batch_size >= 1, f"batch_size must be >= 1, got {self.batch_size}")
        check(self.lr > 0 and self.finetune_lr_scale > 0, "learning rates must be > 0")
        check(self.loss is None or self.loss in LOSSES, f"loss must be one of {', '.join(LOSSES)}, not {self.loss!r}")
        check(self.temperature > 0, f"temperature must be > 0, got {self.temperature}")
        check(0 <= self.alpha <= 1, f"alpha must be in [0, 1], got {self.alpha}")
        check(self.eval_every >= 0, "eval_every must be >= 0")
        check(self.select_metric is None or self.select_metric in SELECT_METRICS,
              f"select_metric must be one of {', '.join(SELECT_METRICS)}, not {self.select_metric!r}")
        check(isinstance(self.seed, int) and self.seed >= 0, f"seed must be an integer >= 0, got {self.seed}")

    def with_epochs(self, n_texts: int) -> "TrainConfig":
        """This config with the epochs chosen for ``n_texts`` transfer texts where none were given."""
        from dataclasses import replace

        return self if self.epochs is not None else replace(self, epochs=auto_epochs(n_texts, self.batch_size))

    def with_loss(self, family_loss: str) -> "TrainConfig":
        """This config with the family's default loss filled in where none was chosen."""
        from dataclasses import replace

        return self if self.loss is not None else replace(self, loss=family_loss)

    def to_dict(self) -> dict:
        return asdict(self)
