import math

import torch

from textdistill.training.losses import distillation_loss, gold_cross_entropy, kl_to_teacher, mse_to_teacher


def test_kl_is_zero_when_student_matches_teacher_and_scales_with_t_squared():
    z = torch.tensor([[2.0, -1.0, 0.5]])
    assert kl_to_teacher(z, z.clone(), 3.0).item() < 1e-6
    s = torch.tensor([[0.0, 0.0, 0.0]])
    p = torch.softmax(z / 2.0, -1)
    manual = (p * (p.log() - math.log(1 / 3))).sum().item() * 4.0
    assert abs(kl_to_teacher(s, z, 2.0).item() - manual) < 1e-5


def test_kl_gradient_size_is_roughly_temperature_independent_for_small_logits():
    s = torch.zeros(1, 2, requires_grad=True)
    t = torch.tensor([[0.2, -0.2]])
    grads = []
    for temp in (1.0, 4.0):
        s.grad = None
        kl_to_teacher(s, t, temp).backward()
        grads.append(s.grad.abs().sum().item())
    assert 0.5 < grads[1] / grads[0] < 1.5


def test_mse_and_masked_ce():
    s = torch.tensor([[1.0, 2.0], [0.0, 0.0]])
    t = torch.tensor([[0.0, 2.0], [1.0, 1.0]])
    assert abs(mse_to_teacher(s, t).item() - (1.0 + 2.0) / 2) < 1e-6
    gold = torch.tensor([1, -1])
    expected = torch.nn.functional.cross_entropy(s[:1], gold[:1]).item()
    assert abs(gold_cross_entropy(s, gold).item() - expected) < 1e-6
    assert gold_cross_entropy(s, torch.tensor([-1, -1])).item() == 0.0


def test_alpha_mixes_kd_and_gold_ce():
    s = torch.tensor([[1.0, 0.0]])
    t = torch.tensor([[0.0, 1.0]])
    gold = torch.tensor([0])
    kd = distillation_loss(s, t, gold, loss="kl", alpha=0.0).item()
    ce = distillation_loss(s, None, gold, loss="ce").item()
    mixed = distillation_loss(s, t, gold, loss="kl", alpha=0.25).item()
    assert abs(mixed - (0.75 * kd + 0.25 * ce)) < 1e-6
