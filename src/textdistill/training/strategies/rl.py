"""``rl``: reinforced teacher selection (Yuan, Shou, Pei, Lin, Gong, Fu, Jiang; AAAI 2021).

What is implemented. A policy pi(a_k = 1 | s) = sigmoid(W_k . s + b_k) draws, for every training text and every
teacher, a Bernoulli "learn from this teacher". The state s of a text is [the student's representation of it
(the head's input, detached, scaled to unit norm), each teacher's distribution, each teacher's cross-entropy on
the gold label (0 without one), a has-gold flag, each teacher's normalised entropy and its disagreement with the
other teachers (fraction with another argmax), log(1 + KL(teacher || student)) per teacher]; the teacher features are
standardised over the transfer set. The student learns from the mean of the selected teachers' distributions (KL;
equal to averaging their KD losses) or logits (MSE). A text with no teacher selected learns nothing at that step
(as in the paper; learning its gold label instead made "no teacher" the action whose CE reward on that very text
was largest, and the policy drifted towards gold-only training). REINFORCE with a moving-average baseline (and
scale) updates the policy after every student step; rewards and schedule: see ``reinforce.py``.

Schedule, as in the paper: (1) ``--policy-warmup-epochs`` epochs of the student with all teachers; (2) policy
pre-training with the student fixed, ``--rl-pretrain-passes`` passes over the transfer set; (3) alternate: every
batch, the policy acts, the student steps, the policy steps.

Where it departs from the paper. (a) Credit: the paper rewards a whole batch or episode with the student's
performance; here each text's reward is the drop of the student's reference loss on that text across the update
(before vs after, same dropout masks), which credits each action with its own effect (``dev`` keeps the paper's
window-level reward). (b) Pre-training with the student fixed: an update of a fixed student has no outcome to
measure, so the reward there is the first-order estimate of that drop: with g = -dL_ref/dz (e.g. y - q for CE) and
d the step the selected target asks of the student's logits (p_mix - q for KL, z_mix - s for MSE), r = g . d.
(c) State additions: entropy, disagreement, has-gold and student/teacher KL (the paper names teacher soft labels, CE
on gold and the student's representation). (d) For texts without a gold label (unlabeled transfer text) the CE
terms are replaced by KL to the mean of all teachers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import option
from ...errors import check
from .base import Strategy, StrategyInput, register
from .reinforce import REWARDS, PolicyObjective


@dataclass
class RLConfig:
    policy_reward: str = option("ce", "rl/rl-weights: reward = drop in the student's loss after each update: ce "
                                      "(CE on gold), ce-kd (CE + KL to the teachers' mean); rl also: dev (change in "
                                      "dev accuracy every --rl-dev-every steps).")
    policy_lr: float = option(0.02, "rl/rl-weights: learning rate of the policy (Adam).")
    policy_warmup_epochs: int = option(1, "rl/rl-weights: epochs with all teachers before the policy acts.")
    policy_update_every: int = option(4, "rl/rl-weights: student steps per policy update (REINFORCE on their texts).")
    rl_pretrain_passes: int = option(1, "rl: passes of policy pre-training over the transfer set with the student "
                                        "fixed (after the warm-up).")
    rl_init_prob: float = option(0.8, "rl: initial selection probability of every teacher.")
    rl_dev_every: int = option(50, "rl: with --policy-reward dev, student steps per dev evaluation (one reward).")

    def __post_init__(self):
        check(self.policy_reward in REWARDS, f"policy_reward must be one of {', '.join(REWARDS)}")
        check(self.policy_lr > 0, "policy_lr must be > 0")
        check(self.policy_update_every >= 1, "policy_update_every must be >= 1")
        check(self.policy_warmup_epochs >= 0 and self.rl_pretrain_passes >= 0,
              "policy_warmup_epochs and rl_pretrain_passes must be >= 0")
        check(0 < self.rl_init_prob < 1, "rl_init_prob must be in (0, 1)")
        check(self.rl_dev_every >= 1, "rl_dev_every must be >= 1")


class SelectionObjective(PolicyObjective):
    """Bernoulli teacher selection by a linear policy on the state."""

    def __init__(self, inputs: StrategyInput, config: RLConfig):
        super().__init__(inputs, strategy="rl", reward=config.policy_reward, lr=config.policy_lr,
                         warmup_epochs=config.policy_warmup_epochs, update_every=config.policy_update_every)
        self.config = config
        self.weight = None  # (F, K)
        self.bias = None
        self.repr_dim = None
        self._dev_window = None  # (accumulated log-prob gradient steps, last dev metric)

    def _ensure_policy(self, repr_dim: int) -> None:
        import torch

        if self.weight is not None:
            return
        self.repr_dim = repr_dim
        f = repr_dim + self.features.static.shape[1] + 2 * self.features.k
        self.weight = torch.zeros((f, self.features.k), requires_grad=True)
        init = float(np.log(self.config.rl_init_prob / (1 - self.config.rl_init_prob)))
        self.bias = torch.full((self.features.k,), init, requires_grad=True)
        self.params = [self.weight, self.bias]

    def state(self, logits, idx, representation):
        import torch

        r = representation.detach().float()
        r = r / (r.norm(dim=-1, keepdim=True) + 1e-6)
        kl, cos = self.features.student_agreement(logits, idx)
        return torch.cat([r, self.features.static[idx], kl, cos], dim=1)

    def probabilities(self, state):
        import torch

        return torch.sigmoid(state @ self.weight + self.bias)

    def act(self, logits, idx, representation):
        import torch

        self._ensure_policy(representation.shape[1])
        state = self.state(logits, idx, representation)
        with torch.no_grad():
            prob = self.probabilities(state)
        actions = torch.bernoulli(prob, generator=self.generator)
        return actions, (state, actions), actions.numpy()

    def log_prob(self, memory):
        import torch

        state, actions = memory
        logit = state @ self.weight + self.bias
        return -torch.nn.functional.binary_cross_entropy_with_logits(logit, actions, reduction="none").sum(1)

    # -- the dev reward: one reward per window of steps ------------------------------------------------------------
    def after_step(self, context) -> None:
        if self.reward != "dev":
            return super().after_step(context)
        if self.pending is None:
            return
        _, memory, _ = self.pending
        self.pending = None
        self._make_optimizer()
        if self._dev_window is None:
            self._dev_window = {"memories": [], "last": context.evaluate()}
        self._dev_window["memories"].append(memory)
        if len(self._dev_window["memories"]) >= self.config.rl_dev_every:
            now = context.evaluate()
            last = self._dev_window["last"]
            if now is not None and last is not None:
                import torch

                states = torch.cat([m[0] for m in self._dev_window["memories"]])
                actions = torch.cat([m[1] for m in self._dev_window["memories"]])
                delta = torch.full((len(states),), float(now - last))
                self.update((states, actions), delta)
            self._dev_window = {"memories": [], "last": now}

    def update(self, memory, rewards) -> None:
        if self.reward == "dev":  # one reward for the window: a scalar baseline, no per-row scaling
            self._make_optimizer()
            r = float(rewards[0])
            base = self.baseline.mean if self.baseline.mean is not None else 0.0
            self.baseline.mean = 0.9 * base + 0.1 * r
            loss = -((r - base) * self.log_prob(memory)).mean()  # Adam: the reward's scale does not matter
            self.optimizer.zero_grad(set_to_none=True)
            loss.backward()
            self.optimizer.step()
            self.policy_steps += 1
            self._epoch_rewards.append(r)
            return
        super().update(memory, rewards)

    # -- pre-training with the student fixed ----------------------------------------------------------------------
    def pretrain(self, context) -> None:
        import torch

        f = self.features
        batch = 64  # one policy step per 64 texts: pre-training moves the policy before the student does
        for p in range(self.config.rl_pretrain_passes):
            rows = context.rows[self.rng.permutation(len(context.rows))]
            rewards_seen, selected = [], np.zeros(f.k)
            for idx, logits, representation in context.batches(rows, batch):
                self._ensure_policy(representation.shape[1])
                state = self.state(logits, idx, representation)
                with torch.no_grad():
                    prob = self.probabilities(state)
                actions = torch.bernoulli(prob, generator=self.generator)
                rewards = self.lookahead_reward(logits, idx, actions)
                self.update((state, actions), rewards)
                rewards_seen.append(float(rewards.mean()))
                selected += actions.sum(0).numpy()
            self.stats.history.append({
                "stage": context.stage, "epoch": context.epoch, "phase": f"policy pre-training {p + 1}",
                "values": {n: round(float(v), 6) for n, v in zip(self.inputs.names, selected / max(len(rows), 1))},
                "mean_reward": float(np.mean(rewards_seen)) if rewards_seen else None})

    def lookahead_reward(self, logits, idx, actions):
        """g . d: the first-order drop of the reference loss if the fixed student took a step on these targets."""
        import torch

        f = self.features
        q1 = torch.softmax(logits, -1)
        gold = f.gold[idx]
        onehot = torch.nn.functional.one_hot(gold.clamp_min(0), f.c).float()
        has = (gold >= 0)[:, None]
        reference = f.reference_target("ce" if self.reward == "dev" else self.reward)[idx]
        g = reference - reference.sum(-1, keepdim=True) * q1  # -d L_ref / d logits
        n = actions.sum(1, keepdim=True)
        w = actions / n.clamp_min(1)
        if self.loss_kind == "kl":
            q_t = torch.softmax(logits / self.temperature, -1)
            d_teacher = (w[:, :, None] * f.probs[idx]).sum(1) - q_t
        else:
            d_teacher = (w[:, :, None] * f.logits[idx]).sum(1) - logits
        d_gold = onehot - q1
        if self.alpha > 0:
            d_teacher = (1 - self.alpha) * d_teacher + self.alpha * torch.where(has, d_gold, 0.0)
        d = torch.where(n > 0, d_teacher, torch.zeros_like(d_gold))
        return (g * d).sum(1)

    def state_tensors(self) -> dict[str, np.ndarray]:
        if self.weight is None:
            return {}
        f = self.features
        return {"policy.weight": self.weight.detach().numpy().T.copy(),
                "policy.bias": self.bias.detach().numpy().copy(),
                "state.static_mean": f.static_mean, "state.static_std": f.static_std}

    def summary(self) -> dict:
        out = super().summary()
        f = self.features
        out["policy"] = {
            "form": "p(select teacher k | s) = sigmoid(policy.weight[k] . s + policy.bias[k])",
            "state": [f"student representation ({self.repr_dim} dims, unit norm)",
                      *[f"{n} (standardised with state.static_mean/std)" for n in f.static_names],
                      *[f"log1p KL({n} || student)" for n in self.inputs.names],
                      *[f"cos({n}, student)" for n in self.inputs.names]],
            "pretrain_passes": self.config.rl_pretrain_passes, "init_prob": self.config.rl_init_prob}
        if self.weight is not None:
            import torch

            out["policy"]["selection_probability_bias"] = {
                n: round(float(v), 6) for n, v in zip(self.inputs.names, torch.sigmoid(self.bias.detach()))}
        return out


@register
class ReinforcedSelection(Strategy):
    name = "rl"
    config_class = RLConfig
    description = "a policy selects teachers per text, trained with REINFORCE (Yuan et al. 2021)"

    def objective(self, inputs: StrategyInput):
        return SelectionObjective(inputs, self.config)
