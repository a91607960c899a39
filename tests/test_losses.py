import math

import torch

from seqattnet.losses import binary_logistic_loss, regression_map_loss


def test_binary_logistic_loss_hand_case():
    loss = binary_logistic_loss(torch.tensor([0.8, 0.4]), torch.tensor([1.0, 0.0]))
    # l = 2, l+ = l- = 1, a+ = a- = 2: -(1/2)(2 log 0.8 + 2 log 0.6)
    assert math.isclose(loss.item(), -(math.log(0.8) + math.log(0.6)), rel_tol=1e-6)


def test_binary_logistic_loss_weights_the_rare_class():
    prob = torch.tensor([0.9, 0.1, 0.1, 0.1])
    target = torch.tensor([0.7, 0.2, 0.0, 0.4])  # threshold 0.5: one positive, three negatives
    a_pos, a_neg = 4 / 1, 4 / 3
    expected = -(a_pos * math.log(0.9) + 3 * a_neg * math.log(0.9)) / 4
    assert math.isclose(binary_logistic_loss(prob, target).item(), expected, rel_tol=1e-6)


def test_binary_logistic_loss_all_negative_is_finite():
    loss = binary_logistic_loss(torch.tensor([0.2, 0.3]), torch.tensor([0.0, 0.1]))
    assert math.isclose(loss.item(), -(math.log(0.8) + math.log(0.7)) / 2, rel_tol=1e-6)


def test_regression_map_loss_only_high_band_when_alone():
    target = torch.tensor([[[0.9, 0.0], [0.0, 0.0]]])
    pred = torch.tensor([[[0.5, 0.0], [0.0, 0.0]]])
    valid = torch.tensor([[True, False], [False, False]])
    assert math.isclose(regression_map_loss(pred, target, valid).item(), 0.16, rel_tol=1e-6)


def test_error_loss_is_in_the_heads_unit_with_targets_clipped_to_its_reach():
    from seqattnet.losses import error_loss
    from seqattnet.model import HeadOutputs

    offsets = torch.tensor([[0.01, -0.02], [0.0, 0.0]])
    targets = torch.tensor([[0.03, -0.02], [0.5, -0.01]])
    paper = HeadOutputs(offsets, torch.zeros(2, 3))
    assert math.isclose(error_loss(paper, targets).item(), (0.02**2 + 0.5**2 + 0.01**2) / 4, rel_tol=1e-5)
    scaled = HeadOutputs(offsets, torch.zeros(2, 3), torch.tensor([[0.04], [0.1]]))
    # errors in units of each row's scale: (0.5, 0), then targets (5 -> clipped to 1, -0.1)
    assert math.isclose(error_loss(scaled, targets).item(), (0.5**2 + 1.0 + 0.1**2) / 4, rel_tol=1e-5)
