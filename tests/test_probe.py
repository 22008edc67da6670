"""The levels probe (hipart bench probe): closed-form ridge regressions from 2D levels to 3D."""

import numpy as np
import pytest
from click.testing import CliRunner

from hipart.bench.probe import (Standardizer, fit_ridges, gain_table, held_out_rows, principal_axes, probe,
                                quadratic_features)
from hipart.errors import HipartError
from hipart_cli.main import cli


def _inputs(n=600, c=6, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, c)), rng.normal(size=(n // 3, c))


def test_the_probe_recovers_a_linear_map_exactly():
    x, x_test = _inputs()
    W = np.random.default_rng(1).normal(size=(6, 9))
    y, y_test = x @ W + 5.0, x_test @ W + 5.0
    fit = probe(x, y, x_test, y_test, np.arange(len(x)) % 5 == 0, "linear", strengths=(1e-10, 1e-2, 1.0))
    assert fit.strength == 1e-10
    assert fit.test_error.max() < 1e-6 and fit.train_error.max() < 1e-6
    np.testing.assert_allclose(fit.predict(x_test), y_test, atol=1e-6)


def test_the_quadratic_probe_recovers_a_quadratic_map_that_the_linear_one_cannot():
    x, x_test = _inputs()

    def target(v):  # three 3-vectors: a product, a square and a linear term
        return np.stack([v[:, 0] * v[:, 1], v[:, 2] ** 2, v[:, 3], v[:, 4] * v[:, 5] - v[:, 0], v[:, 1], v[:, 2],
                         2 * v[:, 3] ** 2, v[:, 0], v[:, 5] * v[:, 1]], axis=1)

    held = np.arange(len(x)) % 5 == 0
    quadratic = probe(x, target(x), x_test, target(x_test), held, "quadratic", strengths=(1e-10, 1e-3))
    linear = probe(x, target(x), x_test, target(x_test), held, "linear", strengths=(1e-10, 1e-3))
    assert quadratic.features == 6 + 21
    assert quadratic.test_error.max() < 1e-5
    assert linear.test_error.mean() > 1.0


def test_fewer_principal_components_than_inputs_keep_the_leading_ones():
    rng = np.random.default_rng(2)
    z = rng.normal(size=(500, 4)) * np.array([10.0, 5.0, 1.0, 0.1])
    axes = principal_axes(z, 2)
    assert axes.shape == (4, 2)
    np.testing.assert_allclose(np.abs(axes), np.eye(4)[:, :2], atol=0.05)
    assert (axes[np.abs(axes).argmax(axis=0), [0, 1]] > 0).all()  # signs fixed
    assert quadratic_features(np.array([[2.0, 3.0]])).tolist() == [[2.0, 3.0, 4.0, 6.0, 9.0]]


def test_ridge_strength_shrinks_the_weights_by_the_known_factor():
    x = np.array([[1.0], [-1.0], [1.0], [-1.0]])  # centred, variance 1
    y = 3.0 * x
    plain, shrunk = fit_ridges(x, y, (0.0, 1.0))
    assert plain.W[0, 0] == pytest.approx(3.0)
    assert shrunk.W[0, 0] == pytest.approx(1.5)  # 3 * var / (var + lam)


def test_standardizer_keeps_constant_columns_finite():
    s = Standardizer.fit(np.array([[1.0, 5.0], [3.0, 5.0]]))
    np.testing.assert_allclose(s(np.array([[2.0, 5.0]])), [[0.0, 0.0]])


def test_held_out_rows_take_the_last_subject_or_the_last_fifth():
    assert held_out_rows(np.array([1, 1, 5, 8, 8])).tolist() == [False, False, False, True, True]
    assert held_out_rows(np.full(10, 9)).tolist() == [False] * 8 + [True] * 2
    with pytest.raises(HipartError, match="both to fit"):
        x, x_test = _inputs(30)
        probe(x, x, x_test, x_test, np.ones(30, bool), "linear")


def test_gain_table_reports_change_against_sparse():
    import pandas as pd

    table = pd.DataFrame([{"input": i, "features": f, "test MPJPE": v} for i, f, v in
                          [("sparse", "linear", 50.0), ("sparse", "quadratic", 40.0),
                           ("sparse + dense", "linear", 40.0), ("sparse + dense", "quadratic", 20.0),
                           ("all levels", "linear", 25.0), ("all levels", "quadratic", 30.0)]])
    gains = gain_table(table)
    assert gains.loc["all levels", "linear vs sparse (%)"] == pytest.approx(-50.0)
    assert gains.loc["sparse + dense", "quadratic vs sparse (%)"] == pytest.approx(-50.0)


def test_bench_probe_writes_its_tables_on_a_dataset_without_a_run(tiny_dataset, tmp_path):
    result = CliRunner().invoke(cli, ["bench", "probe", "--data", str(tiny_dataset), "--out", str(tmp_path),
                                      "--run", str(tmp_path / "no-run")])
    assert result.exit_code == 0, result.output
    for name in ("probe.csv", "probe.md", "probe.png", "probe_fits.csv", "meta.json"):
        assert (tmp_path / "probe" / name).is_file()
    again = CliRunner().invoke(cli, ["bench", "probe", "--data", str(tiny_dataset), "--out", str(tmp_path / "b"),
                                     "--run", str(tmp_path / "no-run")])
    assert (tmp_path / "probe" / "probe.csv").read_text() == (tmp_path / "b" / "probe" / "probe.csv").read_text()
    refused = CliRunner().invoke(cli, ["bench", "probe", "--data", str(tiny_dataset), "--out", str(tmp_path / "c"),
                                       "--run", str(tmp_path / "no-run"), "--hipart-levels"])
    assert refused.exit_code == 1 and "--hipart-levels needs a run" in refused.output
