"""The one interval type: unpacks like the (lo, hi) tuple it replaced, serialises, and knows its coverage."""
import json
import math

import numpy as np
import pytest

from analysis.interval import Interval, percentile_interval


def test_unpacks_indexes_and_compares_like_a_pair():
    ci = Interval(1.0, 3.0)
    lo, hi = ci
    assert (lo, hi) == (1.0, 3.0) and ci[0] == 1.0 and ci[1] == 3.0 and len(ci) == 2
    assert tuple(ci) == (1.0, 3.0) and ci == Interval(1.0, 3.0, 0.95) and ci != Interval(1.0, 3.0, 0.9)
    with pytest.raises(IndexError):
        ci[2]


def test_contains_width_and_missing_bounds():
    ci = Interval(1.0, 3.0, level=0.9)
    assert ci.contains(1.0) and ci.contains(3.0) and not ci.contains(3.0001) and ci.width == 2.0
    empty = Interval(float("nan"), float("nan"))
    assert not empty.finite and not empty.contains(0.0) and math.isnan(empty.width)


def test_serialises_to_plain_json():
    ci = Interval(np.float64(1.5), np.float64(2.5), 0.95)
    assert json.loads(json.dumps(ci.to_dict())) == {"lo": 1.5, "hi": 2.5, "level": 0.95}
    assert ci.to_list() == [1.5, 2.5]
    assert Interval.of([1.5, 2.5]) == ci and Interval.of(ci.to_dict()) == ci and Interval.of(ci) is ci


def test_percentile_interval_of_samples():
    x = np.arange(1001, dtype=float)
    ci = percentile_interval(np.r_[x, np.nan], 0.9)
    assert (ci.lo, ci.hi, ci.level) == pytest.approx((50.0, 950.0, 0.9))
    assert not percentile_interval([1.0], min_samples=2).finite
