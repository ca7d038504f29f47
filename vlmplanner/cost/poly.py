"""Polynomials in V (visual tokens kept) whose coefficients are arrays over (model, compressor) pairs.

For a fixed workload every cost of a candidate is a polynomial of degree <= 2 in V: the attention
term is quadratic in T = Q + V·images, everything else is linear or constant. A sliding-window
layer adds what a polynomial cannot hold: it caches and attends to at most W positions, min(T, W)
= T - max(0, T - W), so a cost may also carry *ramps*, weight · Σ_{j<n} max(0, offset + slope·V + j)
(n = 1: one clipped line; n = the decode steps: the window's saving summed over them). Building the
coefficients once per (model, compressor) pair and evaluating them per candidate keeps the
per-candidate work to a few gathers and multiply-adds, and lets ``breakdown`` evaluate each
component's polynomial at one V with exactly the code ``evaluate`` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

import numpy as np

__all__ = ["Poly", "Ramp", "ramp_sum"]

Coefficient = Union[float, np.ndarray[Any, Any]]  # noqa: UP007 - a runtime alias, kept alike
Operand = Union["Poly", float, int, np.ndarray[Any, Any]]


def _is_zero(value: Coefficient) -> bool:
    return np.ndim(value) == 0 and float(value) == 0.0


def ramp_sum(x: np.ndarray[Any, Any], steps: int) -> np.ndarray[Any, Any]:
    """Σ_{j<steps} max(0, x + j) for integer-valued x, in closed form: the terms from j0 = max(0, -x)
    on form one arithmetic series."""
    n = float(steps)
    start = np.clip(-x, 0.0, n)
    count = n - start
    return np.asarray(count * (x + (start + n - 1.0) * 0.5), dtype=np.float64)


@dataclass(frozen=True)
class Ramp:
    """weight · Σ_{j<steps} max(0, offset + slope·V + j); the coefficients broadcast like Poly's."""

    weight: Coefficient
    offset: Coefficient
    slope: Coefficient
    steps: int

    def scaled(self, factor: Coefficient) -> Ramp:
        return Ramp(self.weight * factor, self.offset, self.slope, self.steps)

    def flat(self, shape: tuple[int, ...]) -> Ramp:
        def one(x: Coefficient) -> Coefficient:
            return x if np.ndim(x) == 0 else np.broadcast_to(x, shape).ravel()

        return Ramp(one(self.weight), one(self.offset), one(self.slope), self.steps)

    def at(self, index: np.ndarray[Any, Any], v: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        def take(x: Coefficient) -> Any:
            return x if np.ndim(x) == 0 else np.take(x, index)

        x = np.asarray(take(self.offset) + take(self.slope) * v, dtype=np.float64)
        return np.asarray(take(self.weight) * ramp_sum(x, self.steps), dtype=np.float64)


class Poly:
    """c[0] + c[1]·V + c[2]·V² + the ramps. Arrays broadcast as numpy does; degree above 2 is refused."""

    __slots__ = ("c", "ramps")
    __array_ufunc__ = None  # make ``ndarray * Poly`` defer to Poly.__rmul__

    def __init__(self, *coefficients: Coefficient, ramps: tuple[Ramp, ...] = ()) -> None:
        if len(coefficients) > 3:
            raise ValueError("cost polynomials in V have degree <= 2")
        self.c: tuple[Coefficient, ...] = coefficients or (0.0,)
        self.ramps = ramps

    @staticmethod
    def of(value: Operand) -> Poly:
        return value if isinstance(value, Poly) else Poly(value)

    def __add__(self, other: Operand) -> Poly:
        o = Poly.of(other)
        n = max(len(self.c), len(o.c))
        a = self.c + (0.0,) * (n - len(self.c))
        b = o.c + (0.0,) * (n - len(o.c))
        return Poly(*(x if _is_zero(y) else y if _is_zero(x) else x + y for x, y in zip(a, b)),
                    ramps=self.ramps + o.ramps)

    __radd__ = __add__

    def __neg__(self) -> Poly:
        return Poly(*(-x for x in self.c), ramps=tuple(r.scaled(-1.0) for r in self.ramps))

    def __sub__(self, other: Operand) -> Poly:
        return self + (-Poly.of(other))

    def __rsub__(self, other: Operand) -> Poly:
        return Poly.of(other) - self

    def __mul__(self, other: Operand) -> Poly:
        if isinstance(other, Poly) and len(other.c) == 1 and not other.ramps:
            other = other.c[0]
        if not isinstance(other, Poly):
            return Poly(*(0.0 if _is_zero(x) else x * other for x in self.c),
                        ramps=tuple(r.scaled(other) for r in self.ramps))
        if len(self.c) == 1 and not self.ramps:
            return other * self.c[0]
        if self.ramps or other.ramps:
            raise ValueError("a cost with ramps multiplies by constants only")
        out: list[Coefficient] = [0.0] * (len(self.c) + len(other.c) - 1)
        for i, x in enumerate(self.c):
            for j, y in enumerate(other.c):
                if not (_is_zero(x) or _is_zero(y)):
                    out[i + j] = out[i + j] + x * y
        while len(out) > 1 and _is_zero(out[-1]):
            out.pop()
        return Poly(*out)

    __rmul__ = __mul__

    def flat(self, shape: tuple[int, ...]) -> Poly:
        """Coefficients as 1-D arrays over the raveled ``shape`` (scalars stay scalars)."""
        return Poly(*(x if np.ndim(x) == 0 else np.broadcast_to(x, shape).ravel() for x in self.c),
                    ramps=tuple(r.flat(shape) for r in self.ramps))

    def at(self, index: np.ndarray[Any, Any], v: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Evaluate at ``v[i]`` with the coefficients of pair ``index[i]`` (Horner, in place)."""

        def coefficient(k: int) -> Any:
            x = self.c[k]
            return x if np.ndim(x) == 0 else np.take(x, index)

        top = len(self.c) - 1
        if top == 0:
            out = np.broadcast_to(np.asarray(coefficient(0), dtype=np.float64), v.shape).copy()
        else:
            out = np.multiply(coefficient(top), v, dtype=np.float64)
            for k in range(top - 1, -1, -1):
                if not _is_zero(self.c[k]):
                    out += coefficient(k)
                if k:
                    out *= v
        for ramp in self.ramps:
            out += ramp.at(index, v)
        return np.asarray(out, dtype=np.float64)
