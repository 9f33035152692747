"""Estimated wait time (EWT) for one caller, as a range, recomputed at every announcement.

Method (see docs/ewt.md): while the N agents who can answer this caller are all busy,
they free up about N times per handle time H. The caller at position k waits for k of
those departures, so under M/M/N the remaining wait is Gamma(k, rate N/H). Handle times
that vary more or less than exponential ones (coefficient of variation c, measured) widen
or narrow it: Gamma(shape k/c², scale c²·H/N), the same mean with variance k·c²·(H/N)².
The caller is told a range between two quantiles of that distribution, rounded outwards to
whole minutes. With nobody staffed who can answer there is no range, and the caller is told
no time rather than something false.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import redis.asyncio as aioredis
from redis.exceptions import WatchError

from ivr.core.keys import Keys

SMOOTHING = 0.05
"""Weight of the newest handle time in the moving average (about the last 20-40 calls).

Handle times vary about as much as their mean (exponential-like), so a faster
average (0.2) added about a third of noise to every estimate in bench/ewt.py."""
MEASURED_NOISE = math.sqrt(SMOOTHING / (2 - SMOOTHING))
"""Relative standard error of the moving-average handle time, per unit of the handle times'
coefficient of variation (the variance of an exponential moving average of weight a is
a/(2-a) of the samples' variance)."""
SQUARE_FIELD = "{queue}|m2"
"""The handle-time hash field holding the moving average of squared handle times."""
LOW_QUANTILE = 0.10
"""The quantile of the remaining wait the range starts at (tuned with bench/ewt.py)."""
HIGH_QUANTILE = 0.90
"""The quantile of the remaining wait the range ends at (tuned with bench/ewt.py)."""
CV_MIN = 0.5
CV_MAX = 2.0
"""Bounds on the measured coefficient of variation of handle times: a few odd calls must not
make every range a point or a day."""
MINUTE_STEP_UNTIL_M = 10
"""Up to this many minutes a range end is said to the minute; above it, to 5 minutes."""
LONG_STEP_M = 5
MORE_THAN_M = 30
"""A range starting this late is said as "more than N minutes"."""
QUANTILE_STEPS = 60
"""Bisection steps to invert the Gamma distribution (far below a second of precision)."""


@dataclass(frozen=True)
class HandleTime:
    """A queue's recent handle time: its mean and how much it varies (coefficient of variation)."""

    mean_s: float
    cv: float = 1.0


@dataclass(frozen=True)
class Servers:
    """The agents who can answer one caller: logged in and not on break, and how many are free."""

    staffed: int
    idle: int = 0


@dataclass(frozen=True)
class WaitRange:
    """The remaining wait the caller is told: between two quantiles, and the mean."""

    low_s: float
    high_s: float
    mean_s: float


@dataclass(frozen=True)
class Spoken:
    """A range as said: the phrase (`hold.<kind>`) and its minutes.

    kind is "soon" (under a minute), "less" (less than `high` minutes), "between" (`low` to
    `high`) or "more" (more than `low` minutes)."""

    kind: str
    low_m: int
    high_m: int

    @property
    def low_s(self) -> float:
        return self.low_m * 60.0

    @property
    def high_s(self) -> float:
        """The end of the range told, in seconds (infinite for "more than")."""
        return math.inf if self.kind == "more" else self.high_m * 60.0


def departures(position: int, servers: Servers) -> int:
    """How many agents must free up before the caller at `position` is offered one."""
    return max(position - servers.idle, 0)


def estimate(position: int, staffed: int, handle_s: float) -> float | None:
    """Seconds the caller `position` departures from the front waits on average (position ×
    H / N), or None without agents."""
    if staffed <= 0 or handle_s <= 0:
        return None
    return max(position, 0) * handle_s / staffed


def wait_range(
    position: int,
    servers: Servers,
    handle: HandleTime,
    low_q: float = LOW_QUANTILE,
    high_q: float = HIGH_QUANTILE,
    noise: float = MEASURED_NOISE,
) -> WaitRange | None:
    """The remaining wait between two quantiles, or None when nobody can answer the caller.
    `noise` is the relative error of H per unit of cv (0: H is known exactly)."""
    if servers.staffed <= 0 or handle.mean_s <= 0 or position <= 0:
        return None
    needed = departures(position, servers)
    if needed == 0:
        return WaitRange(0.0, 0.0, 0.0)
    cv = min(max(handle.cv, CV_MIN), CV_MAX)
    mean = needed * handle.mean_s / servers.staffed
    # Variance of the wait: the departures' own, needed·cv²·(H/N)², plus that of the measured
    # H itself, whose relative error is cv·MEASURED_NOISE, scaling all `needed` alike.
    shape = needed / (cv**2 * (1 + needed * noise**2))
    return WaitRange(
        gamma_quantile(low_q, shape, mean / shape),
        gamma_quantile(high_q, shape, mean / shape),
        mean,
    )


def spoken(found: WaitRange) -> Spoken:
    """The range rounded outwards to what is said: whole minutes, 5 minutes above 10."""
    low, high = round_down_m(found.low_s), round_up_m(found.high_s)
    if high <= 1:
        return Spoken("soon", 0, 1)
    if low == 0:
        return Spoken("less", 0, high)
    if low >= MORE_THAN_M:
        return Spoken("more", low, 0)
    return Spoken("between", low, max(high, low + 1))


def round_down_m(seconds: float) -> int:
    minutes = math.floor(seconds / 60)
    return minutes if minutes <= MINUTE_STEP_UNTIL_M else minutes - minutes % LONG_STEP_M


def round_up_m(seconds: float) -> int:
    minutes = math.ceil(seconds / 60)
    if minutes <= MINUTE_STEP_UNTIL_M:
        return minutes
    return minutes + (-minutes) % LONG_STEP_M


def gamma_quantile(q: float, shape: float, scale: float) -> float:
    """The `q` quantile of Gamma(shape, scale), by bisection on its distribution function."""
    low, high = 0.0, shape + 10 * math.sqrt(shape) + 10
    while gamma_cdf(high, shape) < q:
        high *= 2
    for _ in range(QUANTILE_STEPS):
        middle = (low + high) / 2
        low, high = (middle, high) if gamma_cdf(middle, shape) < q else (low, middle)
    return (low + high) / 2 * scale


def gamma_cdf(x: float, shape: float) -> float:
    """P(shape, x): the regularized lower incomplete gamma function (Gamma with scale 1)."""
    if x <= 0:
        return 0.0
    if x < shape + 1:
        return _gamma_series(x, shape)
    return 1.0 - _gamma_fraction(x, shape)


def _gamma_series(x: float, shape: float) -> float:
    """The series for P(a, x), which converges fast for x < a + 1 (Numerical Recipes 6.2)."""
    term = total = 1.0 / shape
    a = shape
    while abs(term) > abs(total) * 1e-14:
        a += 1
        term *= x / a
        total += term
    return total * math.exp(-x + shape * math.log(x) - math.lgamma(shape))


def _gamma_fraction(x: float, shape: float) -> float:
    """The continued fraction for Q(a, x) = 1 - P(a, x), for x >= a + 1 (modified Lentz)."""
    tiny = 1e-300
    b = x + 1 - shape
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 500):
        an = -i * (i - shape)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        h *= d * c
        if abs(d * c - 1) < 1e-14:
            break
    return h * math.exp(-x + shape * math.log(x) - math.lgamma(shape))


async def handle_time(redis: aioredis.Redis, keys: Keys, queue: str, default_s: float) -> float:
    """The queue's recent handle time, or `default_s` before any call was measured."""
    raw = await redis.hget(keys.handle_times(), queue)
    return float(raw) if raw else default_s


async def handle_stats(
    redis: aioredis.Redis, keys: Keys, queue: str, default_s: float
) -> HandleTime:
    """The queue's recent handle time and its spread; exponential-like (cv 1) until measured."""
    mean, square = await redis.hmget(keys.handle_times(), [queue, SQUARE_FIELD.format(queue=queue)])
    if not mean:
        return HandleTime(default_s)
    m = float(mean)
    if not square or m <= 0:
        return HandleTime(m)
    variance = max(float(square) - m * m, 0.0)
    return HandleTime(m, math.sqrt(variance) / m)


async def record_handle_time(
    redis: aioredis.Redis, keys: Keys, queue: str, seconds: float, default_s: float
) -> None:
    """Fold one finished call's handle time (talk + wrap-up) into the moving averages of the
    handle time and of its square (for the spread).

    Read-modify-write under WATCH, so two processes finishing calls at once
    both count.
    """
    key, square_field = keys.handle_times(), SQUARE_FIELD.format(queue=queue)
    async with redis.pipeline(transaction=True) as pipe:
        while True:
            try:
                await pipe.watch(key)
                raw, raw_square = await pipe.hmget(key, [queue, square_field])
                current = float(raw) if raw else default_s
                # Seeded as exponential: the mean square of an exponential is 2·mean².
                square = float(raw_square) if raw_square else 2 * current * current
                pipe.multi()  # type: ignore[no-untyped-call]
                pipe.hset(
                    key,
                    mapping={
                        queue: f"{smooth(current, seconds):.1f}",
                        square_field: f"{smooth(square, seconds * seconds):.1f}",
                    },
                )
                await pipe.execute()
                return
            except WatchError:
                continue


def smooth(current: float, sample: float) -> float:
    """One step of the exponential moving average."""
    return (1 - SMOOTHING) * current + SMOOTHING * sample
