"""Tukey's fences and the golden-layer argmax, against fences computed by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from goldenlayers.errors import ConfigError
from goldenlayers.locate.tukey import argmax_layers, fences, keep_mask, tukey_golden


def test_linear_fences_by_hand():
    # sorted 1, 2, 3, 4, 100 (n = 5): Q1 at rank 1 -> 2, Q3 at rank 3 -> 4; IQR 2; k = 1: [0, 6]
    scores = [3.0, 1.0, 100.0, 2.0, 4.0]
    bounds = fences(scores, k=1.0, method="linear")
    assert (bounds.q1, bounds.q3, bounds.iqr) == (2.0, 4.0, 2.0)
    assert (bounds.lower, bounds.upper) == (0.0, 6.0)
    assert keep_mask(scores, bounds).tolist() == [True, True, False, True, True]
    result = tukey_golden([0, 1, 2, 3, 4], scores)
    assert result.golden.layer == 4 and not result.golden.tied  # layer 2 (100) is an outlier


def test_interpolated_and_other_methods_by_hand():
    # sorted -50, 1, 2, 3, 4, 5 (n = 6): linear Q1 at rank 1.25 -> 1.25, Q3 at rank 3.75 -> 3.75
    scores = [-50.0, 1.0, 2.0, 3.0, 4.0, 5.0]
    linear = fences(scores, k=1.0, method="linear")
    assert linear.q1 == pytest.approx(1.25) and linear.q3 == pytest.approx(3.75)
    assert (linear.lower, linear.upper) == pytest.approx((-1.25, 6.25))
    # 'lower': Q1 = x[floor(1.25)] = 1, Q3 = x[floor(3.75)] = 3; IQR 2; k = 1: [-1, 5], closed at 5
    lower = fences(scores, k=1.0, method="lower")
    assert (lower.q1, lower.q3, lower.lower, lower.upper) == (1.0, 3.0, -1.0, 5.0)
    assert keep_mask(scores, lower).tolist() == [False, True, True, True, True, True]
    # k = 0 keeps only [Q1, Q3]
    tight = fences(scores, k=0.0, method="linear")
    assert keep_mask(scores, tight).tolist() == [False, False, True, True, False, False]
    # k = 1.5, linear: [1.25 - 3.75, 3.75 + 3.75] = [-2.5, 7.5]
    wide = fences(scores, k=1.5)
    assert (wide.lower, wide.upper) == pytest.approx((-2.5, 7.5))


def test_ties_go_to_the_lowest_layer_and_are_reported():
    golden = argmax_layers([4, 5, 6, 7], [1.0, 5.0, 5.0, 2.0])
    assert golden.layer == 5 and golden.ties == (5, 6) and golden.tied
    assert argmax_layers([0, 1], [math.nan, math.nan]).layer is None


def test_golden_restricted_to_grid_uses_fences_of_all_layers():
    layers = list(range(8))
    scores = [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 50.0]
    on_grid = tukey_golden(layers, scores, among=[0, 2, 4])
    everywhere = tukey_golden(layers, scores)
    # sorted 0..6, 50: Q1 = 1.75, Q3 = 5.25 (linear), IQR 3.5: [-1.75, 8.75]
    assert (on_grid.fences.lower, on_grid.fences.upper) == pytest.approx((-1.75, 8.75))
    assert on_grid.kept.tolist() == [True] * 7 + [False]
    assert on_grid.golden.layer == 4 and everywhere.golden.layer == 6


def test_non_finite_scores_are_dropped_not_counted():
    scores = [1.0, math.nan, 2.0, 3.0, math.inf]
    bounds = fences(scores)
    assert (bounds.q1, bounds.q3) == (1.5, 2.5)  # quantiles of 1, 2, 3 only
    assert keep_mask(scores, bounds).tolist() == [True, False, True, True, False]
    assert math.isnan(fences([math.nan]).lower)
    assert not keep_mask([math.nan], fences([math.nan])).any()


def test_bad_settings_are_config_errors():
    with pytest.raises(ConfigError, match="quantile"):
        fences([1.0, 2.0], method="not-a-method")
    with pytest.raises(ConfigError, match="Tukey k"):
        fences([1.0, 2.0], k=-1.0)


def test_matches_numpy_on_random_scores():
    rng = np.random.default_rng(0)
    scores = rng.standard_cauchy(48)
    q1, q3 = np.quantile(scores, [0.25, 0.75])
    result = tukey_golden(range(48), scores, k=1.0)
    expected = (scores >= q1 - (q3 - q1)) & (scores <= q3 + (q3 - q1))
    assert np.array_equal(result.kept, expected)
    assert result.golden.layer == int(np.flatnonzero(expected)[np.argmax(scores[expected])])
