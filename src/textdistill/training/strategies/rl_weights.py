"""``rl-weights``: continuous per-text teacher weights from a learned agent (after MTKD-RL, Yang et al., AAAI 2025).

What is implemented. For every text and teacher, a feature vector: the teacher's distribution, its cross-entropy
on the gold label (0 without one), its normalised entropy, its disagreement with the other teachers, log(1 +
KL(teacher || student)) and cos(teacher, student) (the teacher/student agreement features of MTKD-RL), and a
one-hot of the teacher (so the agent can learn a teacher's overall worth); the teacher features are standardised
over the transfer set. The agent, Linear(F, ``--rlw-hidden``) -> ReLU -> Linear(., 1), scores each teacher; a
Gaussian policy adds noise of standard deviation ``--rlw-noise`` to the scores, and the weights are the softmax
over teachers. The student learns from the weighted mix (distributions with KL, logits with MSE). REINFORCE on
the Gaussian log-likelihood, with rewards standardised by moving averages, after every student step; the reward
of a text is the drop of the student's loss on it across the update (``reinforce.py``). Warm-up: equal weights for
``--policy-warmup-epochs`` epochs.

Where it departs from MTKD-RL: the paper's reward is the student's negative loss after the update; here the loss
before the update is subtracted per text (a per-text baseline), which removes how hard the text is from the
reward; the paper's features of intermediate layers are replaced by output-level ones (the students share no
layers with the teachers); no dev reward.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...config import option
from ...errors import check
from .base import Strategy, StrategyInput, register
from .reinforce import PolicyObjective


@dataclass
class RLWeightsConfig:
    policy_reward: str = option("ce", "rl/rl-weights: the reward (see rl).")
    policy_lr: float = option(0.02, "rl/rl-weights: learning rate of the policy (Adam).")
    policy_warmup_epochs: int = option(1, "rl/rl-weights: epochs with all teachers before the policy acts.")
    policy_update_every: int = option(4, "rl/rl-weights: student steps per policy update (REINFORCE on their texts).")
    rlw_hidden: int = option(128, "rl-weights: hidden units of the agent.")
    rlw_noise: float = option(0.5, "rl-weights: standard deviation of the Gaussian exploration on teacher scores.")

    def __post_init__(self):
        check(self.policy_reward in ("ce", "ce-kd"), "rl-weights: policy_reward must be ce or ce-kd")
        check(self.policy_lr > 0 and self.rlw_noise > 0 and self.rlw_hidden >= 1,
              "policy_lr and rlw_noise must be > 0, rlw_hidden >= 1")
        check(self.policy_warmup_epochs >= 0 and self.policy_update_every >= 1,
              "policy_warmup_epochs must be >= 0 and policy_update_every >= 1")


class WeightingObjective(PolicyObjective):
    measure = "mean weight"

    def __init__(self, inputs: StrategyInput, config: RLWeightsConfig):
        import torch

        super().__init__(inputs, strategy="rl-weights", reward=config.policy_reward, lr=config.policy_lr,
                         warmup_epochs=config.policy_warmup_epochs, update_every=config.policy_update_every)
        self.config = config
        k = self.features.k
        f = self.features.per_teacher.shape[-1] + 2 + k
        gen = torch.Generator().manual_seed(int(inputs.seed) + 104729)
        self.w1 = (torch.randn((f, config.rlw_hidden), generator=gen) / np.sqrt(f)).requires_grad_()
        self.b1 = torch.zeros(config.rlw_hidden, requires_grad=True)
        self.w2 = torch.zeros((config.rlw_hidden, 1), requires_grad=True)  # equal weights at the start
        self.b2 = torch.zeros(1, requires_grad=True)
        self.params = [self.w1, self.b1, self.w2, self.b2]
        self.eye = torch.eye(k)

    def features_of(self, logits, idx):
        import torch

        kl, cos = self.features.student_agreement(logits, idx)
        b = len(idx)
        return torch.cat([self.features.per_teacher[idx], kl[..., None], cos[..., None],
                          self.eye[None].expand(b, -1, -1)], dim=-1)

    def scores(self, x):
        import torch

        return (torch.relu(x @ self.w1 + self.b1) @ self.w2 + self.b2)[..., 0]  # (B, K)

    def act(self, logits, idx, representation):
        import torch

        x = self.features_of(logits, idx)
        with torch.no_grad():
            mu = self.scores(x)
        noise = torch.randn(mu.shape, generator=self.generator) * self.config.rlw_noise
        action = mu + noise
        weights = torch.softmax(action, dim=1)
        return weights, (x, action), weights.numpy()

    def log_prob(self, memory):
        x, action = memory
        mu = self.scores(x)
        return (-(action - mu).pow(2) / (2 * self.config.rlw_noise ** 2)).sum(1)

    def state_tensors(self) -> dict[str, np.ndarray]:
        f = self.features
        return {"agent.0.weight": self.w1.detach().numpy().T.copy(), "agent.0.bias": self.b1.detach().numpy().copy(),
                "agent.2.weight": self.w2.detach().numpy().T.copy(), "agent.2.bias": self.b2.detach().numpy().copy(),
                "features.mean": f.per_teacher_mean, "features.std": f.per_teacher_std}

    def summary(self) -> dict:
        out = super().summary()
        out["policy"] = {"form": "weights = softmax_k(agent(features[k]) + N(0, noise^2)); agent = Linear-ReLU-Linear",
                         "features": ["teacher distribution", "CE on gold", "entropy", "disagreement",
                                      "log1p KL(teacher || student)", "cos(teacher, student)", "teacher one-hot"],
                         "noise": self.config.rlw_noise, "hidden": self.config.rlw_hidden}
        return out


@register
class ReinforcedWeights(Strategy):
    name = "rl-weights"
    config_class = RLWeightsConfig
    description = "an agent sets continuous per-text teacher weights, trained with REINFORCE (after MTKD-RL)"

    def objective(self, inputs: StrategyInput):
        return WeightingObjective(inputs, self.config)
