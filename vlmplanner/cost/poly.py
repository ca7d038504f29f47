"""Polynomials in V (visual tokens kept) whose coefficients are arrays over (model, compressor) pairs.

For a fixed workload every cost of a candidate is a polynomial of degree <= 2 in V: the attention
term is quadratic in T = Q + V·images, everything else is linear or constant. Building the
coefficients once per (model, compressor) pair and evaluating them per candidate keeps the
per-candidate work to a few gathers and multiply-adds, and lets ``breakdown`` evaluate each
component's polynomial at one V with exactly the code ``evaluate`` runs.
"""

from __future__ import annotations

from typing import Any, Union

import numpy as np

__all__ = ["Poly"]

Coefficient = Union[float, np.ndarray[Any, Any]]  # noqa: UP007 - a runtime alias, kept alike
Operand = Union["Poly", float, int, np.ndarray[Any, Any]]


def _is_zero(value: Coefficient) -> bool:
    return np.ndim(value) == 0 and float(value) == 0.0


class Poly:
    """c[0] + c[1]·V + c[2]·V². Arrays broadcast as numpy does; degree above 2 is refused."""

    __slots__ = ("c",)
    __array_ufunc__ = None  # make ``ndarray * Poly`` defer to Poly.__rmul__

    def __init__(self, *coefficients: Coefficient) -> None:
        if len(coefficients) > 3:
            raise ValueError("cost polynomials in V have degree <= 2")
        self.c: tuple[Coefficient, ...] = coefficients or (0.0,)

    @staticmethod
    def of(value: Operand) -> Poly:
        return value if isinstance(value, Poly) else Poly(value)

    def __add__(self, other: Operand) -> Poly:
        o = Poly.of(other)
        n = max(len(self.c), len(o.c))
        a = self.c + (0.0,) * (n - len(self.c))
        b = o.c + (0.0,) * (n - len(o.c))
        return Poly(*(x if _is_zero(y) else y if _is_zero(x) else x + y for x, y in zip(a, b)))

    __radd__ = __add__

    def __neg__(self) -> Poly:
        return Poly(*(-x for x in self.c))

    def __sub__(self, other: Operand) -> Poly:
        return self + (-Poly.of(other))

    def __rsub__(self, other: Operand) -> Poly:
        return Poly.of(other) - self

    def __mul__(self, other: Operand) -> Poly:
        if not isinstance(other, Poly):
            return Poly(*(0.0 if _is_zero(x) else x * other for x in self.c))
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
        return Poly(*(x if np.ndim(x) == 0 else np.broadcast_to(x, shape).ravel() for x in self.c))

    def at(self, index: np.ndarray[Any, Any], v: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        """Evaluate at ``v[i]`` with the coefficients of pair ``index[i]`` (Horner, in place)."""

        def coefficient(k: int) -> Any:
            x = self.c[k]
            return x if np.ndim(x) == 0 else np.take(x, index)

        top = len(self.c) - 1
        if top == 0:
            return np.broadcast_to(np.asarray(coefficient(0), dtype=np.float64), v.shape).copy()
        out = np.multiply(coefficient(top), v, dtype=np.float64)
        for k in range(top - 1, -1, -1):
            if not _is_zero(self.c[k]):
                out += coefficient(k)
            if k:
                out *= v
        return np.asarray(out, dtype=np.float64)
