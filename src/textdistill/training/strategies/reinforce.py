"""What the reinforced strategies (``rl``, ``rl-weights``) share: per-text teacher features, the reward, the
moving-average baseline, and an objective that lets a stochastic policy choose each text's target while the
student trains, then learns from what the update did (REINFORCE).

Schedule (per distillation stage): ``--policy-warmup-epochs`` epochs with every teacher (equal weights); then the
policy acts on every batch. Per batch: the policy reads the state of each text and draws an action (which teachers,
or what weights); the student takes one optimiser step on the resulting targets; the reward of each text is how
much the step lowered the student's reference loss on that text: L_ref(before) - L_ref(after), where "after"
re-runs the batch with the updated weights and the same dropout masks. Every ``--policy-update-every`` (4) steps
the policy takes one REINFORCE step on the texts of those steps, on (reward - baseline) / scale, baseline and scale
being moving averages of the rewards' mean and standard deviation.

The reference loss (``--policy-reward``): ``ce``: the student's cross-entropy on the gold label; ``ce-kd``: that plus
KL(mean of all teachers || student); ``dev`` (rl only): the change in dev accuracy over ``--rl-dev-every`` steps,
one reward for every action in that window. A text without a gold label has no CE: its reference loss is KL(mean of
all teachers || student) under every variant.
"""

from __future__ import annotations

import math

import numpy as np

from ..objectives import Objective
from .base import (StrategyInput, WeightStatistics, classes_of_rows, disagreement, entropy, gold_cross_entropy,
                   softmax)

REWARDS = ("ce", "ce-kd", "dev")


class TeacherFeatures:
    """Per-text teacher quantities as torch tensors, indexed by transfer-set row."""

    def __init__(self, inputs: StrategyInput):
        import torch

        t = lambda a, dtype=torch.float32: torch.from_numpy(np.ascontiguousarray(a)).to(dtype)  # noqa: E731
        logits = inputs.logits  # (K, N, C)
        probs1 = softmax(logits)
        self.k, self.n, self.c = logits.shape
        self.logits = t(logits.transpose(1, 0, 2))  # (N, K, C)
        self.probs = t(softmax(logits / inputs.temperature).transpose(1, 0, 2))  # at the distillation temperature
        self.probs1 = t(probs1.transpose(1, 0, 2))
        self.mean_probs1 = self.probs1.mean(1)  # (N, C): the label-free reference
        self.gold = t(inputs.gold, torch.int64)
        self.has_gold = self.gold >= 0
        ce = gold_cross_entropy(logits, inputs.gold).T  # (N, K)
        static = [probs1.transpose(1, 0, 2).reshape(self.n, -1), ce, (inputs.gold >= 0)[:, None].astype(np.float32),
                  entropy(probs1).T, disagreement(logits).T]
        self.static_names = ([f"p[{name}][{c}]" for name in inputs.names for c in inputs.class_names]
                             + [f"ce[{n}]" for n in inputs.names] + ["has_gold"]
                             + [f"entropy[{n}]" for n in inputs.names] + [f"disagreement[{n}]" for n in inputs.names])
        static = np.concatenate(static, axis=1).astype(np.float32)
        self.static_mean = static.mean(0)
        self.static_std = static.std(0) + 1e-3
        self.static = t((static - self.static_mean) / self.static_std)
        # per-teacher features for rl-weights: (N, K, F)
        per = np.concatenate([probs1.transpose(1, 0, 2), ce[..., None], entropy(probs1).T[..., None],
                              disagreement(logits).T[..., None]], axis=-1).astype(np.float32)
        self.per_teacher_mean = per.reshape(-1, per.shape[-1]).mean(0)
        self.per_teacher_std = per.reshape(-1, per.shape[-1]).std(0) + 1e-3
        self.per_teacher = t((per - self.per_teacher_mean) / self.per_teacher_std)
        self.classes = classes_of_rows(inputs)

        self.neg_entropy1 = (self.probs1 * self.probs1.clamp_min(1e-12).log()).sum(-1)  # (N, K): sum p log p
        self.norm1 = self.probs1.norm(dim=-1)  # (N, K)
        self._reference: dict = {}

    def student_agreement(self, logits, idx):
        """(B, K) log(1 + KL(p_k || q)) and cos(p_k, q): how far each teacher is from the student now."""
        import torch

        log_q = torch.log_softmax(logits.detach(), -1)  # (B, C)
        q = log_q.exp()
        p = self.probs1[idx]  # (B, K, C)
        cross = torch.bmm(p, torch.stack([log_q, q], dim=2))  # (B, K, 2): sum p log q, sum p q
        kl = self.neg_entropy1[idx] - cross[..., 0]
        cos = cross[..., 1] / (self.norm1[idx] * q.norm(dim=-1, keepdim=True) + 1e-12)
        return torch.log1p(kl.clamp_min(0)), cos

    def reference_target(self, reward: str):
        """(N, C) R such that the reference loss of a text is -sum_c R_c log q_c up to a constant: one-hot gold (ce),
        one-hot gold + the teachers' mean (ce-kd), the teachers' mean without gold (KL to it, less its entropy)."""
        import torch

        if reward not in self._reference:
            onehot = torch.nn.functional.one_hot(self.gold.clamp_min(0), self.c).float()
            gold_part = onehot + self.mean_probs1 if reward == "ce-kd" else onehot
            self._reference[reward] = torch.where(self.has_gold[:, None], gold_part, self.mean_probs1)
        return self._reference[reward]


def reference_loss_rows(logits, features: TeacherFeatures, idx, reward: str):
    """(B,) the loss whose drop is the reward: CE on gold (+ KL to the teachers' mean for ce-kd); KL to the
    teachers' mean where a text has no gold label (each up to a per-text constant, which the drop cancels)."""
    import torch

    return -(features.reference_target(reward)[idx] * torch.log_softmax(logits, -1)).sum(-1)


class Baseline:
    """Moving averages of the rewards' mean and standard deviation: advantage = (r - mean) / std."""

    def __init__(self, decay: float = 0.95):
        self.decay = decay
        self.mean: float | None = None
        self.var: float | None = None

    def advantage(self, rewards):
        import torch

        m, v = float(rewards.mean()), float(rewards.var(unbiased=False)) if rewards.numel() > 1 else 0.0
        if self.mean is None:
            self.mean, self.var = m, max(v, 1e-12)
        adv = (rewards - self.mean) / math.sqrt(self.var + 1e-12)
        d = self.decay
        self.mean = d * self.mean + (1 - d) * m
        self.var = d * self.var + (1 - d) * max(v, 1e-12)
        return torch.clamp(adv, -5.0, 5.0)

    def reset(self) -> None:
        self.mean = self.var = None


class PolicyObjective(Objective):
    """Distillation where a policy chooses each text's target. Subclasses give ``act`` and ``policy_loss``."""

    needs_representation = True
    measure = "selection rate"

    def __init__(self, inputs: StrategyInput, *, strategy: str, reward: str, lr: float, warmup_epochs: int,
                 update_every: int = 1, baseline_decay: float = 0.95):
        import torch

        self.inputs, self.strategy, self.reward, self.lr = inputs, strategy, reward, lr
        self.warmup_epochs = warmup_epochs
        if 0 < inputs.epochs <= warmup_epochs:
            inputs.log(f"note: {strategy}: the policy never acts: --epochs {inputs.epochs} <= --policy-warmup-epochs "
                       f"{warmup_epochs} (every teacher is used throughout)")
        self.features = TeacherFeatures(inputs)
        self.loss_kind, self.temperature, self.alpha = inputs.loss, inputs.temperature, inputs.alpha
        self.generator = torch.Generator().manual_seed(int(inputs.seed) + 7919)
        self.rng = np.random.default_rng(int(inputs.seed) + 7919)
        self.baseline = Baseline(baseline_decay)
        self.stats = WeightStatistics(inputs.names, inputs.class_names, measure=self.measure)
        self._records: list = []  # (rows, values) of this epoch, counted into the statistics at its end
        self.params: list = []
        self.optimizer = None
        self.epoch = 0
        self.acting = False
        self.pending = None  # what loss() decided, for after_step
        self.policy_steps = 0
        self.update_every = update_every
        self._batch: list = []  # (memory, rewards) of the steps since the last policy update
        self.reward_history: list[float] = []
        self._epoch_rewards: list[float] = []
        f = self.features  # the warm-up's target: every teacher, equal weights (precomputed, as mean-probs/-logits)
        self.everyone = f.probs.mean(1) if self.loss_kind == "kl" else f.logits.mean(1)

    # -- to implement ----------------------------------------------------------------------------------------
    def act(self, logits, idx, representation):
        """(per-row teacher weights (B, K) summing to 1 or all 0, what to remember for the update, values to
        record in the statistics (B, K))."""
        raise NotImplementedError

    def log_prob(self, memory):
        """(B,) log-probability of the remembered actions under the current policy (with gradient)."""
        raise NotImplementedError

    # -- the objective -----------------------------------------------------------------------------------------
    def _make_optimizer(self):
        import torch

        if self.optimizer is None:
            self.optimizer = torch.optim.Adam(self.params, lr=self.lr)

    def targets(self, logits, idx, weights):
        """(B,) per-row loss of the student towards the weighted teachers; a row with no teacher selected learns
        nothing this step (the paper averages the selected teachers' KD losses: none selected, no loss)."""
        import torch

        from ..losses import ce_rows, kl_rows, mse_rows

        total = weights.sum(1)
        chosen = total > 0
        w = weights / total.clamp_min(1e-12)[:, None]
        if self.loss_kind == "kl":
            target = (w[:, :, None] * self.features.probs[idx]).sum(1)
            kd = kl_rows(logits, target, self.temperature)
        else:
            target = (w[:, :, None] * self.features.logits[idx]).sum(1)
            kd = mse_rows(logits, target)
        if self.alpha <= 0 and bool(chosen.all()):
            return kd
        with_teacher = (1.0 - self.alpha) * kd + self.alpha * ce_rows(logits, self.features.gold[idx]) \
            if self.alpha > 0 else kd
        return torch.where(chosen, with_teacher, torch.zeros_like(kd))

    def loss(self, logits, idx, representation=None):
        import torch

        from ..losses import kl_rows, mse_rows

        b = len(idx)
        if not self.acting:
            self.pending = None
            everyone = 1.0 if self.measure == "selection rate" else 1.0 / self.features.k
            self._records.append((idx, np.full((b, self.features.k), everyone, dtype=np.float32)))
            target = self.everyone[idx]
            kd = kl_rows(logits, target, self.temperature) if self.loss_kind == "kl" else mse_rows(logits, target)
            if self.alpha > 0:
                from ..losses import ce_rows

                kd = (1.0 - self.alpha) * kd + self.alpha * ce_rows(logits, self.features.gold[idx])
            return kd.mean()
        else:
            weights, memory, record = self.act(logits.detach(), idx, representation)
            before = reference_loss_rows(logits.detach(), self.features, idx, self.reward)
            self.pending = (idx, memory, before)
            self._records.append((idx, record))
        return self.targets(logits, idx, weights).mean()

    def after_step(self, context) -> None:
        if self.pending is None:
            return
        idx, memory, before = self.pending
        self.pending = None
        after_logits, _ = context.forward()
        after = reference_loss_rows(after_logits, self.features, idx, self.reward)
        self._batch.append((memory, before - after))
        if len(self._batch) >= self.update_every:
            self.flush()

    def flush(self) -> None:
        """One policy update on the steps gathered since the last one."""
        import torch

        if not self._batch:
            return
        memories, rewards = zip(*self._batch)
        self._batch = []
        memory = tuple(torch.cat(parts) for parts in zip(*memories))
        self.update(memory, torch.cat(rewards))

    def update(self, memory, rewards) -> None:
        """One REINFORCE step on the remembered actions with per-row rewards."""
        self._make_optimizer()
        advantage = self.baseline.advantage(rewards.detach())
        loss = -(advantage * self.log_prob(memory)).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        self.policy_steps += 1
        self._epoch_rewards.append(float(rewards.mean()))

    def start_epoch(self, context) -> None:
        self.epoch = context.epoch
        self.acting = context.epoch > self.warmup_epochs
        if context.epoch == self.warmup_epochs + 1:
            self.pretrain(context)
            self.baseline.reset()  # realised rewards have another scale than the look-ahead's

    def pretrain(self, context) -> None:
        """Before the policy acts (hook for subclasses that pre-train it with the student fixed)."""

    def end_epoch(self, context) -> None:
        self.flush()
        if self._records:
            rows = np.concatenate([r for r, _ in self._records])
            self.stats.add(np.concatenate([v for _, v in self._records]), self.features.classes[rows])
            self._records = []
        phase = "warm-up (all teachers)" if not self.acting else "policy and student"
        extra = {}
        if self._epoch_rewards:
            extra["mean_reward"] = float(np.mean(self._epoch_rewards))
            self.reward_history.append(extra["mean_reward"])
        self.stats.end_epoch(context.stage, context.epoch, phase, **extra)
        self._epoch_rewards = []

    def summary(self) -> dict:
        out = self.stats.to_dict()
        out.update({"reward": self.reward, "policy_steps": self.policy_steps, "warmup_epochs": self.warmup_epochs,
                    "baseline": {"mean": self.baseline.mean, "var": self.baseline.var}})
        return out
