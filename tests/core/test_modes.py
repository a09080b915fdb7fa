"""Sampling runs the network in eval mode and gives its training mode back, also after an error."""

from __future__ import annotations

import pytest
from torch import nn

from seqgen.nn.modes import eval_mode, evaluates_first_arg


def test_eval_mode_restores_training_even_on_error() -> None:
    net = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5))
    net.train()
    with eval_mode(net):
        assert not net.training and not net[1].training
    assert net.training and net[1].training
    with pytest.raises(RuntimeError):
        with eval_mode(net):
            raise RuntimeError("sampling failed")
    assert net.training
    net.eval()
    with eval_mode(net):
        pass
    assert not net.training  # an eval-mode network stays in eval mode


def test_decorator_form() -> None:
    @evaluates_first_arg
    def sample(module: nn.Module) -> bool:
        return module.training

    net = nn.Linear(2, 2).train()
    assert sample(net) is False and net.training
