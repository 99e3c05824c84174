"""Surrogate gradients for the spike nonlinearity.

The forward pass of every surrogate is the Heaviside step ``s = 1[x >= 0]`` with
``x = v_pre - v_th`` (the same comparison as the event engine: a neuron spikes when its
membrane reaches threshold). The backward pass replaces the step's derivative (zero almost
everywhere) by a smooth or piecewise pseudo-derivative ``g(x)`` (Neftci, Mostafa & Zenke 2019,
"Surrogate gradient learning in spiking neural networks", IEEE Signal Process. Mag. 36:51).

Built-in pseudo-derivatives (``x`` is in the units of the membrane, e.g. threshold 1):

========================  ==========================================  ========  ====================
name                      g(x)                                        default   source
========================  ==========================================  ========  ====================
``atan``                  (alpha/2) / (1 + (pi/2 alpha x)^2)          alpha=2   Fang et al. 2021
                                                                                 (SpikingJelly ATan,
                                                                                 snnTorch atan)
``fast_sigmoid``          1 / (1 + slope |x|)^2                       slope=25  Zenke & Ganguli 2018
                                                                                 (SuperSpike),
                                                                                 snnTorch default
``triangle``              alpha * max(0, 1 - alpha |x|)               alpha=1   Esser et al. 2016;
                                                                                 Bellec et al. 2018;
                                                                                 SpikingJelly
                                                                                 PiecewiseQuadratic
``sigmoid``               alpha sigma(alpha x) (1 - sigma(alpha x))   alpha=4   SpikingJelly Sigmoid
                                                                                 (Meng et al. 2023)
``rectangle``             (1/width) 1[|x| <= width/2]                 width=1   Wu et al. 2018 (STBP);
                                                                                 Meng et al. 2023
========================  ==========================================  ========  ====================

``atan``, ``triangle``, ``sigmoid`` and ``rectangle`` integrate to 1 over x (they are the
derivatives of a smoothed step); ``fast_sigmoid`` integrates to 2/slope, as in SuperSpike.

Add a surrogate by subclassing :class:`Surrogate` (implement ``derivative``) and, to make it
available by name, :func:`register_surrogate`::

    class Gaussian(Surrogate):
        name = "gaussian"
        def __init__(self, sigma=0.5):
            self.sigma = float(sigma)
        def derivative(self, x):
            return torch.exp(-0.5 * (x / self.sigma) ** 2) / (self.sigma * math.sqrt(2 * math.pi))
        def config(self):
            return {"name": self.name, "sigma": self.sigma}

    register_surrogate("gaussian", Gaussian)

References: Zenke & Ganguli 2018, Neural Comput. 30:1514; Esser et al. 2016, PNAS 113:11441;
Bellec et al. 2018, NeurIPS; Wu et al. 2018, Front. Neurosci. 12:331; Fang et al. 2021, ICCV
(parametric LIF); Meng et al. 2023, ICCV (SLTT).
"""
from __future__ import annotations

import math

import torch

__all__ = [
    "Surrogate", "ATan", "FastSigmoid", "Triangle", "Sigmoid", "Rectangle",
    "register_surrogate", "get_surrogate", "available_surrogates", "spike",
]


class Surrogate:
    """Base of all surrogates: Heaviside forward, ``derivative(x)`` backward.

    A surrogate object is callable: ``surrogate(x)`` returns spikes (same dtype as ``x``) and
    carries the pseudo-derivative into autograd. ``derivative`` must be a pure element-wise torch
    function of ``x`` (it is also used, vectorised over a whole sequence, by the fused kernels).
    """

    name = "surrogate"

    def derivative(self, x: torch.Tensor) -> torch.Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def config(self) -> dict:
        return {"name": self.name}

    def kernel_spec(self):
        """(code, constants) of a derivative the numba backward kernel evaluates itself, or None
        (then ``derivative`` is evaluated with torch over the whole sequence)."""
        return None

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return spike(x, self)

    def __repr__(self):
        args = ", ".join(f"{k}={v}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.config() == other.config()

    def __hash__(self):
        return hash((type(self), tuple(sorted(self.config().items()))))


def _positive(name, value):
    value = float(value)
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name}={value}: expected a finite positive slope parameter")
    return value


class ATan(Surrogate):
    """g(x) = (alpha/2) / (1 + (pi/2 * alpha * x)^2): derivative of (1/pi) atan(pi/2 alpha x) + 1/2.

    As SpikingJelly's ``surrogate.ATan`` and snnTorch's ``surrogate.atan`` (default alpha = 2).
    """

    name = "atan"

    def __init__(self, alpha: float = 2.0):
        self.alpha = _positive("alpha", alpha)

    def derivative(self, x):
        a = self.alpha
        return (a / 2) / (1 + (math.pi / 2 * a * x) ** 2)

    def kernel_spec(self):
        return 0, (math.pi / 2 * self.alpha, self.alpha / 2, 1.0)

    def config(self):
        return {"name": self.name, "alpha": self.alpha}


class FastSigmoid(Surrogate):
    """SuperSpike: g(x) = 1 / (1 + slope * |x|)^2 (Zenke & Ganguli 2018; snnTorch ``fast_sigmoid``,
    default slope 25)."""

    name = "fast_sigmoid"

    def __init__(self, slope: float = 25.0):
        self.slope = _positive("slope", slope)

    def derivative(self, x):
        return 1.0 / (1.0 + self.slope * x.abs()) ** 2

    def kernel_spec(self):
        return 1, (self.slope, 1.0)

    def config(self):
        return {"name": self.name, "slope": self.slope}


class Triangle(Surrogate):
    """g(x) = alpha * max(0, 1 - alpha * |x|): the derivative of a piecewise quadratic smoothed step
    (Esser et al. 2016; Bellec et al. 2018 with alpha = 1; SpikingJelly ``PiecewiseQuadratic``,
    the surrogate of the SLTT reference code)."""

    name = "triangle"

    def __init__(self, alpha: float = 1.0):
        self.alpha = _positive("alpha", alpha)

    def derivative(self, x):
        a = self.alpha
        return a * torch.clamp(1.0 - a * x.abs(), min=0.0)

    def kernel_spec(self):
        return 2, (self.alpha, 1.0, 0.0)

    def config(self):
        return {"name": self.name, "alpha": self.alpha}


class Sigmoid(Surrogate):
    """g(x) = alpha * sigma(alpha x) * (1 - sigma(alpha x)) (SpikingJelly ``Sigmoid``, alpha = 4)."""

    name = "sigmoid"

    def __init__(self, alpha: float = 4.0):
        self.alpha = _positive("alpha", alpha)

    def derivative(self, x):
        sg = torch.sigmoid(self.alpha * x)
        return self.alpha * sg * (1.0 - sg)

    def kernel_spec(self):
        return 3, (self.alpha, 1.0)

    def config(self):
        return {"name": self.name, "alpha": self.alpha}


class Rectangle(Surrogate):
    """g(x) = 1/width on |x| <= width/2, else 0 (Wu et al. 2018 STBP; Meng et al. 2023 SLTT)."""

    name = "rectangle"

    def __init__(self, width: float = 1.0):
        self.width = _positive("width", width)

    def derivative(self, x):
        return (x.abs() <= self.width / 2).to(x.dtype) / self.width

    def kernel_spec(self):
        return 4, (self.width / 2, self.width, 0.0)   # the kernel gets 1/width in the data dtype

    def config(self):
        return {"name": self.name, "width": self.width}


_REGISTRY: dict[str, type] = {}


def register_surrogate(name: str, cls: type) -> None:
    """Make ``cls`` (a :class:`Surrogate` subclass) available as ``get_surrogate(name, **params)``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"surrogate name {name!r}: expected a non-empty string")
    if not (isinstance(cls, type) and issubclass(cls, Surrogate)):
        raise TypeError(f"surrogate {name!r}: expected a Surrogate subclass, got {cls!r}")
    _REGISTRY[name] = cls


for _cls in (ATan, FastSigmoid, Triangle, Sigmoid, Rectangle):
    register_surrogate(_cls.name, _cls)


def available_surrogates() -> list[str]:
    return sorted(_REGISTRY)


def get_surrogate(spec="atan", **params) -> Surrogate:
    """A surrogate from a name (``"atan"``), a config dict (``{"name": "atan", "alpha": 2}``) or an
    instance (returned as is)."""
    if isinstance(spec, Surrogate):
        if params:
            raise ValueError(f"surrogate {spec!r} is already built: extra parameters {sorted(params)} not allowed")
        return spec
    if isinstance(spec, dict):
        spec = dict(spec)
        name = spec.pop("name", None)
        spec.update(params)
        return get_surrogate(name, **spec)
    if spec not in _REGISTRY:
        raise ValueError(f"surrogate {spec!r}: expected one of {available_surrogates()} "
                         "(or register one with spiking.nn.register_surrogate)")
    return _REGISTRY[spec](**params)


class _SpikeFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, surrogate):
        ctx.save_for_backward(x)
        ctx.surrogate = surrogate
        return (x >= 0).to(x.dtype)

    @staticmethod
    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return grad * ctx.surrogate.derivative(x), None


def spike(x: torch.Tensor, surrogate: Surrogate) -> torch.Tensor:
    """Heaviside ``1[x >= 0]`` in the forward pass, ``surrogate.derivative(x)`` in the backward pass."""
    return _SpikeFn.apply(x, surrogate)
