"""Tests of the tail likelihood (METHOD.md §4): special function, normalisation, Monte Carlo convolution."""

import numpy as np
import pytest
from scipy.integrate import quad

from milkyway_mass.galaxy.fitting import Posterior
from milkyway_mass.galaxy.tail.fit import tail_prior
from milkyway_mass.galaxy.tail.likelihood import (
    TailData,
    TailLikelihood,
    TailLikelihoodStack,
    log_bound_convolved,
    log_bound_df_consistent,
    log_bound_df_power_exp,
    log_bound_published,
    log_outlier_density,
    parameter_names,
)
from milkyway_mass.galaxy.tail.special import (
    log_power_exp_integral,
)


def test_df_consistent_density_is_the_equilibrium_speed_distribution():
    """v² (v_esc² − v²)^k, normalised on [v_min, v_esc): ratio of densities at two speeds, and zero outside."""
    vesc, k, v_min = 510.0, 2.3, 300.0
    v = np.array([[320.0, 450.0, 509.0, 299.0, 510.0, 600.0]])
    lb = log_bound_df_consistent(v, vesc, np.array([k]), v_min)[0]
    expected = 2 * np.log(450 / 320) + k * np.log((vesc**2 - 450**2) / (vesc**2 - 320**2))
    assert lb[1] - lb[0] == pytest.approx(expected, rel=1e-12)
    assert np.all(lb[3:] == -np.inf)
    # a star whose local v_esc lies below v_min cannot be bound
    assert log_bound_df_consistent(np.array([[310.0]]), 290.0, np.array([1.0]), 300.0)[0, 0] == -np.inf


@pytest.mark.parametrize(("k", "y", "b", "b2"), [(0.0, 0.6, 5.0, -3.0), (1.2, 0.8, 12.0, -8.0), (4.0, 0.95, -2.0, 6.0)])
def test_power_exp_integral_with_a_quadratic_term_matches_quadrature(k, y, b, b2):
    ref = np.log(
        (k + 1)
        * quad(
            lambda s: s**k * np.sqrt(1 - y * s) * np.exp(b * y * s + b2 * (y * s) ** 2),
            0,
            1,
            epsabs=0,
            epsrel=1e-13,
            limit=200,
        )[0]
    )
    got = log_power_exp_integral(np.array([k]), np.array([[y]]), (np.array([[b]]), np.array([[b2]])))[0, 0]
    assert got == pytest.approx(ref, abs=1e-9)

    def dens(v):
        return float(
            np.exp(log_bound_df_power_exp(np.array([[v]]), 500.0, np.array([k]), (b, b2), 500.0 * np.sqrt(1 - y)))[0, 0]
        )

    assert quad(dens, 500.0 * np.sqrt(1 - y), 500.0, epsabs=0, epsrel=1e-11, limit=200)[0] == pytest.approx(
        1.0, abs=1e-8
    )


def test_df_power_exp_density_shape_and_support():
    """v² (v_esc² − v²)^k exp(b_rel (1 − v²/v_esc²)): ratio of densities at two speeds, zero outside."""
    vesc, k, b_rel, v_min = 510.0, 1.3, 6.0, 300.0
    v = np.array([[320.0, 450.0, 299.0, 510.0, 600.0]])
    lb = log_bound_df_power_exp(v, vesc, np.array([k]), (b_rel,), v_min)[0]
    g1, g0 = vesc**2 - 450**2, vesc**2 - 320**2
    expected = 2 * np.log(450 / 320) + k * np.log(g1 / g0) + b_rel * (g1 - g0) / vesc**2
    assert lb[1] - lb[0] == pytest.approx(expected, rel=1e-12)
    assert np.all(lb[2:] == -np.inf)
    assert log_bound_df_power_exp(np.array([[310.0]]), 290.0, np.array([1.0]), (0.0,), 300.0)[0, 0] == -np.inf


def test_df_power_exp_interpolated_normalisation_matches_direct():
    """The likelihood's per-star normalisation (H at Chebyshev nodes in ln r) equals the direct one
    across a wide bin and extreme parameters."""
    rng = np.random.default_rng(1)
    n = 300
    data = TailData(
        v=rng.uniform(200, 330, n),
        r=np.exp(rng.uniform(np.log(30), np.log(60), n)),
        sigma=np.full(n, 5.0),
        v_min=np.full(n, 200.0),
        r0=45.0,
    )
    like = TailLikelihood(data, 1000.0, "df_power_exp")
    theta = np.array([[400.0, 3.0, 1.4, 0.01, 8.0], [340.0, 0.5, 0.2, 0.1, -5.0], [500.0, 7.0, 1.0, 0.1, 25.0]])
    vesc = theta[:, :1] * (data.r / data.r0)[None, :] ** (-0.5 * theta[:, 2:3])
    b_rel = theta[:, 4:5] * (vesc / theta[:, :1]) ** 2
    direct = log_bound_df_power_exp(data.v[None, :], vesc, theta[:, 1], (b_rel,), data.v_min[None, :])
    got = like.log_bound(theta)
    assert np.array_equal(np.isfinite(got), np.isfinite(direct)) and np.isfinite(got[0]).all()
    ok = np.isfinite(direct)
    np.testing.assert_allclose(got[ok], direct[ok], atol=1e-8)


def test_df_power_exp_needs_one_v_min_and_five_parameters():
    data = TailData(
        v=np.array([310.0, 400.0]),
        r=np.array([9.0, 11.0]),
        sigma=np.array([10.0, 10.0]),
        v_min=np.array([300.0, 305.0]),
        r0=10.0,
    )
    with pytest.raises(ValueError, match="one v_min"):
        TailLikelihood(data, 1000.0, "df_power_exp")
    assert parameter_names("df_power_exp") == ("v_esc", "k", "gamma", "f", "b")
    data = TailData(
        v=np.array([310.0, 400.0]),
        r=np.array([9.0, 11.0]),
        sigma=np.array([10.0, 10.0]),
        v_min=np.array([300.0, 300.0]),
        r0=10.0,
    )
    priors = {"vesc_max_kms": 1000.0, "gamma": (0.0, 1.0), "f": (1e-6, 1.0), "b": (-5.0, 20.0)}
    five = tail_prior("df_power_exp", 300.0, (0.0, 6.0), priors)
    assert five.lower.tolist() == [300.0, 0.0, 0.0, 1e-6, -5.0]
    assert tail_prior("df_consistent", 300.0, (0.0, 6.0), priors).names == ("v_esc", "k", "gamma", "f")
    with pytest.raises(KeyError, match="'b'"):
        tail_prior("df_power_exp", 300.0, (0.0, 6.0), {k: v for k, v in priors.items() if k != "b"})


def _star_densities(kind, vesc, k, v_min, sigma, sigma_out=1000.0, b_rel=3.0):
    """Bound and outlier densities of one star as scalar functions of v."""

    def bound(v):
        arr = np.array([[v]])
        if kind == "published":
            return float(np.exp(log_bound_published(arr, vesc, k, v_min))[0, 0])
        if kind == "df_consistent":
            return float(np.exp(log_bound_df_consistent(arr, vesc, np.array([k]), v_min))[0, 0])
        if kind == "df_power_exp":
            return float(np.exp(log_bound_df_power_exp(arr, vesc, np.array([k]), (b_rel,), v_min))[0, 0])
        return float(np.exp(log_bound_convolved(arr, vesc, np.array([k]), v_min, sigma))[0, 0])

    def outlier(v):
        return float(np.exp(log_outlier_density(v, sigma, v_min, sigma_out)))

    return bound, outlier


CASES = [(520.0, 2.0, 300.0, 25.0), (350.0, 0.3, 300.0, 60.0), (610.0, 3.6, 250.0, 5.0)]


@pytest.mark.parametrize(
    ("kind", "vesc", "k", "v_min", "sigma"),
    [
        *(("published", *c) for c in CASES),
        *(("convolved", *c) for c in CASES),
        *(("df_consistent", *c) for c in CASES),
        ("df_consistent", 1000.0, 7.5, 200.0, 1.0),
        *(("df_power_exp", *c) for c in CASES),
        ("convolved", 280.0, 1.5, 300.0, 40.0),  # local v_esc below v_min: only error-scattered stars remain
    ],
)
def test_per_star_densities_integrate_to_one(kind, vesc, k, v_min, sigma):
    bound, outlier = _star_densities(kind, vesc, k, v_min, sigma)
    top = vesc + 12 * sigma if kind == "convolved" else vesc
    mass_b = quad(bound, v_min, top, points=[vesc] if top > vesc else None, limit=400, epsrel=1e-10)[0]
    mass_o = quad(outlier, v_min, np.inf, limit=400, epsrel=1e-10)[0]
    assert mass_b == pytest.approx(1.0, abs=2e-6)
    assert mass_o == pytest.approx(1.0, abs=1e-8)
    assert bound(v_min - 1.0) == 0.0 and outlier(v_min - 1.0) == 0.0


@pytest.mark.parametrize("kind", ["published", "convolved", "df_consistent", "df_power_exp"])
def test_mixture_of_every_star_integrates_to_one(kind):
    rng = np.random.default_rng(5)
    n = 6
    data = TailData(
        v=rng.uniform(300, 450, n),
        r=rng.uniform(8, 12, n),
        sigma=rng.uniform(5, 40, n),
        v_min=np.full(n, 300.0),
        r0=10.0,
    )
    like = TailLikelihood(data, 1000.0, kind)
    theta = np.array([[520.0, 2.2, 0.6, 0.05, 4.0][: len(parameter_names(kind))]])
    grid = np.concatenate([np.linspace(300, 800, 40001), np.linspace(800.05, 12000, 20000)])
    bound, outlier = like.model_curves(theta, grid)
    total = np.trapezoid(bound + outlier, grid, axis=1)[0]
    assert total == pytest.approx(n, rel=2e-4)
    assert np.trapezoid(outlier, grid, axis=1)[0] == pytest.approx(0.05 * n, rel=1e-3)


def test_convolved_tends_to_published_for_small_errors():
    v = np.linspace(301.0, 515.0, 50)[None, :]
    pub = log_bound_published(v, 520.0, 1.7, 300.0)
    conv = log_bound_convolved(v, 520.0, np.array([1.7]), 300.0, 0.01)
    np.testing.assert_allclose(conv, pub, atol=1e-4)


@pytest.mark.parametrize(("vesc", "k", "sigma"), [(480.0, 2.0, 45.0), (420.0, 0.5, 20.0), (560.0, 3.5, 70.0)])
def test_convolved_density_matches_monte_carlo_convolution(vesc, k, sigma):
    """Monte Carlo convolution: true speeds ∝ (v_esc − v)^k (importance weights on uniform draws), plus
    Gaussian errors, kept if v ≥ v_min; the weighted histogram must follow the convolved density."""
    rng = np.random.default_rng(11)
    v_min = 300.0
    v_lo = v_min - 12 * sigma  # the power law extends below v_min; deeper stars cannot reach v_min
    v_true = rng.uniform(v_lo, vesc, 800_000)
    v_obs = v_true + sigma * rng.standard_normal(v_true.size)
    keep = v_obs >= v_min
    v_obs, w = v_obs[keep], (vesc - v_true[keep]) ** k
    edges = np.linspace(v_min, vesc + 5 * sigma, 41)
    hist, _ = np.histogram(v_obs, edges, weights=w)
    var, _ = np.histogram(v_obs, edges, weights=w**2)
    bound, _ = _star_densities("convolved", vesc, k, v_min, sigma)
    prob = np.array([quad(bound, a, b, epsrel=1e-10)[0] for a, b in zip(edges[:-1], edges[1:])])
    assert prob.sum() == pytest.approx(1.0, abs=1e-4)  # the edges cover all but the far tail
    big = prob > 1e-3
    pulls = (hist[big] - prob[big] * w.sum()) / np.sqrt(var[big])
    assert np.max(np.abs(pulls)) < 5.0
    assert np.mean(pulls**2) < 2.0
    # the published (unconvolved) density is clearly rejected by the same sample
    pub = np.array(
        [
            quad(lambda v: float(np.exp(log_bound_published(v, vesc, k, v_min))), a, min(b, vesc))[0]
            if a < vesc
            else 0.0
            for a, b in zip(edges[:-1], edges[1:])
        ]
    )
    assert np.mean((hist[big] - pub[big] * w.sum()) ** 2 / var[big]) > 25.0


def test_likelihood_is_vectorised_over_walkers():
    rng = np.random.default_rng(2)
    n = 40
    data = TailData(
        v=rng.uniform(300, 500, n),
        r=rng.uniform(8, 12, n),
        sigma=rng.uniform(5, 40, n),
        v_min=np.full(n, 300.0),
        r0=10.0,
    )
    theta = np.column_stack(
        [rng.uniform(450, 650, 7), rng.uniform(0.1, 3.7, 7), rng.uniform(0, 1, 7), rng.uniform(1e-6, 0.5, 7)]
    )
    for kind in ("published", "convolved", "df_consistent", "df_power_exp"):
        like = TailLikelihood(data, 1000.0, kind)
        th = np.column_stack([theta, rng.uniform(-5, 20, 7)])[:, : len(parameter_names(kind))]
        batch = like(th)
        single = np.array([like(t[None, :])[0] for t in th])
        np.testing.assert_allclose(batch, single, rtol=1e-12)
        assert np.all(np.isfinite(batch))


def test_published_bound_term_vanishes_above_local_vesc():
    data = TailData(
        v=np.array([310.0, 505.0]),
        r=np.array([10.0, 10.0]),
        sigma=np.array([10.0, 10.0]),
        v_min=np.array([300.0, 300.0]),
        r0=10.0,
    )
    like = TailLikelihood(data, 1000.0, "published")
    lb = like.log_bound(np.array([[500.0, 2.0, 0.3, 1e-3]]))
    assert np.isfinite(lb[0, 0]) and lb[0, 1] == -np.inf
    assert np.isfinite(like(np.array([[500.0, 2.0, 0.3, 1e-3]]))[0])  # the outlier term keeps ln L finite


def test_posterior_is_the_prior_plus_the_likelihood():
    data = TailData(
        v=np.array([310.0, 400.0]),
        r=np.array([9.0, 11.0]),
        sigma=np.array([10.0, 10.0]),
        v_min=np.array([300.0, 300.0]),
        r0=10.0,
    )
    like = TailLikelihood(data, 1000.0)
    post = Posterior(
        None,
        tail_prior("published", 300.0, (0.1, 2.5), {"vesc_max_kms": 1000.0, "gamma": (0.0, 1.0), "f": (1e-6, 1.0)}),
        (like,),
    )
    theta = np.array(
        [[500.0, 2.0, 0.1, 1e-3], [500.0, 3.0, 0.1, 1e-3], [250.0, 2.0, 0.1, 1e-3], [800.0, 2.0, 0.1, 1e-3]]
    )
    out = post(theta)
    assert out.shape == (4,)
    assert np.all(out[1:3] == -np.inf)
    np.testing.assert_allclose(out[[0, 3]] - like(theta[[0, 3]]), -np.log([500.0, 800.0]))
    assert set(post.log_likelihood_terms(theta)) == {"tail"}


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("v", [290.0, 400.0], "v >= v_min"),
        ("sigma", [np.nan, 10.0], "non-finite value"),
        ("r", [0.0, 10.0], "r > 0"),
    ],
)
def test_tail_data_rejects_bad_input(field, value, message):
    kwargs = {
        "v": np.array([310.0, 400.0]),
        "r": np.array([9.0, 11.0]),
        "sigma": np.array([10.0, 10.0]),
        "v_min": np.array([300.0, 300.0]),
        "r0": 10.0,
    }
    kwargs[field] = np.array(value)
    with pytest.raises(ValueError, match=message):
        TailData(**kwargs)


def test_convolved_likelihood_needs_positive_errors():
    data = TailData(v=np.array([310.0]), r=np.array([9.0]), sigma=np.array([0.0]), v_min=np.array([300.0]), r0=9.0)
    with pytest.raises(ValueError, match="sigma > 0"):
        TailLikelihood(data, 1000.0, "convolved")
    with pytest.raises(ValueError, match="likelihood must be one of"):
        TailLikelihood(data, 1000.0, "gaussian")


@pytest.mark.parametrize("kind", ["published", "convolved", "df_consistent", "df_power_exp"])
def test_stack_of_bins_scores_each_bin_as_alone(kind):
    """B bins with different stars, radii and v_min evaluated together give each bin's own ln L."""
    rng = np.random.default_rng(5)
    likes = []
    for n, v_min, r0 in ((40, 300.0, 10.0), (7, 280.0, 20.0), (25, 320.0, 6.0)):
        data = TailData(
            v=rng.uniform(v_min, 560, n),
            r=r0 * rng.uniform(0.8, 1.25, n),
            sigma=rng.uniform(5, 40, n),
            v_min=np.full(n, v_min),
            r0=r0,
        )
        likes.append(TailLikelihood(data, 1000.0, kind))
    n_params = len(parameter_names(kind))
    theta = np.stack(
        [
            np.column_stack(
                [
                    rng.uniform(570, 700, 6),
                    rng.uniform(0.1, 3.7, 6),
                    rng.uniform(0, 1, 6),
                    rng.uniform(1e-6, 0.5, 6),
                    rng.uniform(-5, 15, 6),
                ]
            )[:, :n_params]
            for _ in likes
        ]
    )
    stack = TailLikelihoodStack(likes)
    together = stack(theta)
    for b, like in enumerate(likes):
        f = theta[b, :, 3:4]
        log_form = np.logaddexp(np.log1p(-f) + like.log_bound(theta[b]), np.log(f) + like._log_out[None, :])
        np.testing.assert_allclose(together[b], log_form.sum(axis=1), rtol=1e-12)
        np.testing.assert_array_equal(together[b], TailLikelihoodStack([like])(theta[b][None])[0])
    with pytest.raises(ValueError, match="one likelihood kind"):
        TailLikelihoodStack(
            [likes[0], TailLikelihood(likes[1].data, 1000.0, "published" if kind != "published" else "convolved")]
        )
