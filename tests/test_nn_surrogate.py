"""Surrogate gradients: the backward pass of each surrogate equals its analytic pseudo-derivative."""
import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from spiking.nn import surrogate as S  # noqa: E402

X = np.concatenate([np.linspace(-3, 3, 601), [-0.5, 0.5, -0.25, 0.25, 0.0, 1e-7, -1e-7]])


def _sig(z):
    return 1 / (1 + np.exp(-z))


# analytic derivatives written independently of the implementation (numpy, float64)
ANALYTIC = {
    ("atan", 2.0): lambda x: 1.0 / (1 + (math.pi / 2 * 2.0 * x) ** 2),
    ("atan", 5.0): lambda x: 2.5 / (1 + (math.pi / 2 * 5.0 * x) ** 2),
    ("fast_sigmoid", 25.0): lambda x: 1 / (1 + 25 * np.abs(x)) ** 2,
    ("fast_sigmoid", 10.0): lambda x: 1 / (1 + 10 * np.abs(x)) ** 2,
    ("triangle", 1.0): lambda x: np.maximum(0, 1 - np.abs(x)),
    ("triangle", 2.0): lambda x: 2 * np.maximum(0, 1 - 2 * np.abs(x)),
    ("sigmoid", 4.0): lambda x: 4 * _sig(4 * x) * (1 - _sig(4 * x)),
    ("sigmoid", 1.5): lambda x: 1.5 * _sig(1.5 * x) * (1 - _sig(1.5 * x)),
    ("rectangle", 1.0): lambda x: (np.abs(x) <= 0.5) / 1.0,
    ("rectangle", 0.5): lambda x: (np.abs(x) <= 0.25) / 0.5,
}
PARAM = {"atan": "alpha", "fast_sigmoid": "slope", "triangle": "alpha", "sigmoid": "alpha", "rectangle": "width"}


@pytest.mark.parametrize("name,param", sorted(ANALYTIC))
def test_backward_equals_analytic_derivative(name, param):
    sur = S.get_surrogate(name, **{PARAM[name]: param})
    x = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    s = sur(x)
    assert torch.equal(s, (x >= 0).double())            # Heaviside forward, 1 at 0 (>= threshold)
    g = torch.randn_like(x)
    s.backward(g)
    expect = ANALYTIC[(name, param)](X) * g.numpy()
    np.testing.assert_allclose(x.grad.numpy(), expect, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["atan", "triangle", "sigmoid", "rectangle"])
def test_unit_area(name):
    """These pseudo-derivatives are derivatives of a smoothed step: they integrate to 1."""
    sur = S.get_surrogate(name)
    x = torch.linspace(-60, 60, 1_200_001, dtype=torch.float64)
    area = torch.trapezoid(sur.derivative(x), x).item()
    assert abs(area - 1) < 2e-2 if name == "atan" else abs(area - 1) < 1e-4


def test_default_parameters_are_documented_values():
    assert S.ATan().alpha == 2.0
    assert S.FastSigmoid().slope == 25.0
    assert S.Triangle().alpha == 1.0
    assert S.Sigmoid().alpha == 4.0
    assert S.Rectangle().width == 1.0
    assert S.available_surrogates() == sorted(["atan", "fast_sigmoid", "triangle", "sigmoid", "rectangle"])


def test_config_round_trip_and_instances():
    for name in S.available_surrogates():
        sur = S.get_surrogate(name)
        assert S.get_surrogate(sur.config()) == sur
        assert S.get_surrogate(sur) is sur


def test_register_custom_surrogate():
    class Gaussian(S.Surrogate):
        name = "gaussian_test"

        def __init__(self, sigma=0.5):
            self.sigma = float(sigma)

        def derivative(self, x):
            return torch.exp(-0.5 * (x / self.sigma) ** 2) / (self.sigma * math.sqrt(2 * math.pi))

        def config(self):
            return {"name": self.name, "sigma": self.sigma}

    S.register_surrogate("gaussian_test", Gaussian)
    try:
        sur = S.get_surrogate("gaussian_test", sigma=0.3)
        x = torch.linspace(-1, 1, 11, dtype=torch.float64, requires_grad=True)
        sur(x).sum().backward()
        expect = np.exp(-0.5 * (np.linspace(-1, 1, 11) / 0.3) ** 2) / (0.3 * math.sqrt(2 * math.pi))
        np.testing.assert_allclose(x.grad.numpy(), expect, rtol=1e-12)
        # a registered surrogate works in the fused layers as well
        import spiking.nn as snn
        lif = snn.LIF(0.5, surrogate={"name": "gaussian_test", "sigma": 0.3})
        inp = torch.rand(5, 2, 3, requires_grad=True)
        lif(inp)[0].sum().backward()
        assert torch.isfinite(inp.grad).all()
    finally:
        S._REGISTRY.pop("gaussian_test", None)


def test_bad_input_messages():
    with pytest.raises(ValueError, match="expected one of"):
        S.get_surrogate("nope")
    with pytest.raises(ValueError, match="alpha=-1.0"):
        S.ATan(alpha=-1)
    with pytest.raises(TypeError, match="Surrogate subclass"):
        S.register_surrogate("x", object)
