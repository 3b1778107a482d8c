"""The per-axis field algebra behind ``receptive_field``.

An ``AxisField`` says which input rows (or columns) each index ``i`` of one array axis can see,
on the infinite input plane (padding counts as virtual input, as in Araujo et al. 2019):

    lo(i) = (i // P) * J + lo[i % P],   hi(i) = (i // P) * J + hi[i % P]

With period P = 1 this is the classic affine field: start = lo[0], jump = J, size = hi - lo + 1.
Upsampling (lhs-dilated conv, pixel shuffle, resize) needs P > 1: output unit i sees the field
of input unit i // r, whose position moves by J only every r units. ``None`` in ``lo``/``hi``
marks a phase that sees no input (a zero inserted by a dilated input). J = 0 is a field shared
by every unit (a global gate such as squeeze-and-excitation).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from fractions import Fraction
from math import gcd, lcm

Interval = tuple | None  # (lo, hi) inclusive, or None for "sees nothing"


class FieldError(ValueError):
    """The dependence pattern cannot be written as one (periodic) affine field per axis."""


def _hull(parts: Sequence[Interval]) -> Interval:
    parts = [p for p in parts if p is not None]
    if not parts:
        return None
    return (min(p[0] for p in parts), max(p[1] for p in parts))


@dataclasses.dataclass(frozen=True)
class AxisField:
    src: int  # which input spatial axis (0 = H, 1 = W) this array axis indexes
    period: int
    jump: int
    lo: tuple
    hi: tuple

    @staticmethod
    def constant(src: int, interval: tuple) -> AxisField:
        return AxisField(src, 1, 0, (interval[0],), (interval[1],))

    @property
    def rate(self) -> Fraction:
        """Input pixels per output unit (the effective stride; < 1 after upsampling)."""
        return Fraction(self.jump, self.period)

    def at(self, i: int) -> Interval:
        q, r = divmod(i, self.period)
        if self.lo[r] is None:
            return None
        return (q * self.jump + self.lo[r], q * self.jump + self.hi[r])

    def hull(self, n: int) -> Interval:
        """Union of the fields of units 0..n-1 (what a reduction over the axis sees)."""
        return _hull([self.at(i) for i in range(n)])

    def sizes(self) -> list:
        return [h - l + 1 for l, h in zip(self.lo, self.hi) if l is not None]


def _periodic(src: int, period: int, jump: int, parts: Sequence[Interval]) -> AxisField | None:
    """The normalized field whose phase r sees ``parts[r]``."""
    lo = tuple(None if p is None else p[0] for p in parts)
    hi = tuple(None if p is None else p[1] for p in parts)
    return normalize(AxisField(src, period, jump, lo, hi))


def normalize(f: AxisField) -> AxisField | None:
    """Shortest period that describes the same field; ``None`` if no phase sees any input."""
    if all(l is None for l in f.lo):
        return None
    P = f.period
    for p in range(1, P + 1):
        if P % p or (f.jump * p) % P:
            continue
        dj = f.jump * p // P
        ok = all(
            f.lo[r + p] is None if f.lo[r] is None else (f.lo[r + p] == f.lo[r] + dj and f.hi[r + p] == f.hi[r] + dj)
            for r in range(P - p)
        )
        if ok:
            return AxisField(f.src, p, dj, f.lo[:p], f.hi[:p])
    return f


def window(f: AxisField, k: int, stride: int, dilation: int, pad_lo: int, lhs_dilation: int = 1) -> AxisField | None:
    """Field after a sliding window (conv, pool, pad, slice) along the axis.

    Output unit i reads taps u = i*stride - pad_lo + t*dilation (t < k) of the input after
    ``lhs_dilation - 1`` zeros were inserted between its units; a tap on an inserted zero or
    on padding brings no input (padding positions still count through the extrapolated field).
    """
    L = lhs_dilation
    fine_period = L * f.period
    P = fine_period // gcd(stride, fine_period)
    J = f.jump * stride * P // fine_period
    parts = []
    for i in range(P):
        taps = [i * stride - pad_lo + t * dilation for t in range(k)]
        parts.append(_hull([f.at(u // L) for u in taps if u % L == 0]))
    return _periodic(f.src, P, J, parts)


def merge_outer(f: AxisField, inner: int) -> AxisField | None:
    """Axis of unit v = i * inner + j (a spatial axis merged with a non-spatial inner one, as
    in pixel shuffle): unit v sees what unit v // inner saw."""
    P = f.period * inner
    return _periodic(f.src, P, f.jump, [f.at(v // inner) for v in range(P)])


def contains(a: AxisField, b: AxisField, n: int) -> bool:
    """Whether a's field holds b's for every unit 0..n-1."""
    return all(_hull([a.at(i), b.at(i)]) == a.at(i) for i in range(n))


def union(a: AxisField | None, b: AxisField | None, n: int, where: str = "") -> AxisField | None:
    """Field of an axis combining two paths (add, concat, select): the per-unit hull.

    Paths at the same rate combine exactly; paths at different rates combine only when one
    contains the other over the n units present (e.g. a global gate times a local map).
    """
    if a is None or b is None:
        return a if b is None else b
    if a.src != b.src:
        raise FieldError(f"{where}: one array axis combines input axes {a.src} and {b.src} (H mixed with W)")
    if a.rate == b.rate:
        P = lcm(a.period, b.period)
        return _periodic(a.src, P, int(a.rate * P), [_hull([a.at(i), b.at(i)]) for i in range(P)])
    if contains(a, b, n):
        return a
    if contains(b, a, n):
        return b
    raise FieldError(
        f"{where}: paths with different strides ({a.rate} and {b.rate} input pixels per unit) meet and "
        "neither field contains the other, so the combined field is not affine"
    )


def fit_periodic(src: int, fields: Sequence[Interval], interior: Sequence[bool]) -> AxisField:
    """Periodic field matching per-unit ``fields`` on the ``interior`` units and containing
    them on the others (used for resize matrices, whose border rows are clamped)."""
    n = len(fields)
    idx = [i for i in range(n) if interior[i] and fields[i] is not None]
    members = set(idx)
    for P in range(1, n + 1):
        first = next((i for i in idx if i + P in members), None)
        if first is None:
            break
        J = fields[first + P][0] - fields[first][0]
        # every interior unit, shifted back by its whole periods, must give its phase's interval
        shifted = {(i % P, fields[i][0] - i // P * J, fields[i][1] - i // P * J) for i in idx}
        if len(shifted) != P or len({r for r, _, _ in shifted}) != P:
            continue
        f = _periodic(src, P, J, [iv for _, *iv in sorted(shifted)])
        if all(iv is None or (f.at(i)[0] <= iv[0] and iv[1] <= f.at(i)[1]) for i, iv in enumerate(fields)):
            return f
    raise FieldError("resize: the per-unit fields are not periodic away from the border, so no stride describes them")
