"""Monte Carlo draws of the clusters: seeded, with the stated error distributions, and the
Jacobian weights D⁴ (distance) and D⁵ (distance modulus), derived here numerically."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from milkyway_mass.galaxy.coordinates import K_PM, galactocentric_cartesian
from milkyway_mass.galaxy.globular_clusters.draws import draw_clusters, draw_observables

FRAME = {"R0_kpc": 8.122, "z0_kpc": 0.0208, "v_sun_peculiar_kms": [11.1, 12.24, 7.25], "vc_R0_kms": 234.04}


def _clusters() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "Name": ["A", "B"],
            "ra": [6.0, 250.4],
            "dec": [-72.1, 36.5],
            "dist": [4.5, 20.0],
            "disterr": [0.05, 1.0],
            "vlos": [-17.0, 240.0],
            "vloserr": [0.2, 3.0],
            "pmra": [5.25, -3.2],
            "pmdec": [-2.55, 0.4],
            "pmra_e": [0.02, 0.05],
            "pmdec_e": [0.03, 0.04],
            "pmcorr": [-0.3, 0.6],
        }
    )


def test_draws_are_seeded_and_deterministic():
    a, b = (draw_clusters(_clusters(), 50, seed=7, galaxy_frame=FRAME) for _ in range(2))
    c = draw_clusters(_clusters(), 50, seed=8, galaxy_frame=FRAME)
    for name in ("r", "v2", "L", "L_z", "ln_weight"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.r, c.r)
    assert a.names == ("A", "B") and a.r.shape == (2, 50) and a.n_draws == 50


def test_distance_modulus_draws_have_the_stated_scatter_and_D5_weights():
    d = draw_clusters(_clusters(), 20000, seed=1, galaxy_frame=FRAME, modulus_error_mag=0.1)
    dist = np.exp(d.ln_weight / 5.0)
    modulus = 5 * np.log10(dist / _clusters()["dist"].to_numpy()[:, None])
    np.testing.assert_allclose(modulus.std(axis=1), 0.1, rtol=0.02)
    np.testing.assert_allclose(modulus.mean(axis=1), 0.0, atol=0.003)


def test_catalogue_distance_errors_give_D4_weights():
    d = draw_clusters(_clusters(), 20000, seed=1, galaxy_frame=FRAME, modulus_error_mag=None)
    dist = np.exp(d.ln_weight / 4.0)
    np.testing.assert_allclose(dist.std(axis=1), _clusters()["disterr"], rtol=0.03)
    assert np.all(dist > 0)


def test_phase_space_jacobian_of_the_observables_is_k2_D4_cos_dec():
    """|d(x, v) / d(ra, dec, D, mu_ra*, mu_dec, v_los)| = K_PM² D⁴ cos(dec) (angles in radians), so
    draws in D carry D⁴ and draws in the distance modulus (dD = D ln 10 / 5 dmu) D⁵."""
    for ra, dec, dist, pmra, pmdec, vlos in [
        (6.0, -72.1, 4.5, 5.2, -2.5, -17.0),
        (250.4, 36.5, 20.0, -3.2, 0.4, 240.0),
    ]:
        point = np.array([np.radians(ra), np.radians(dec), dist, pmra, pmdec, vlos])

        def phase_space(p):
            ra_deg, dec_deg = np.degrees(p[:2])
            values = (ra_deg, dec_deg, p[2], p[5], p[3], p[4])  # ra, dec, dist, rv, pmra, pmdec
            gc = galactocentric_cartesian(*(np.atleast_1d(v) for v in values), FRAME)
            return np.array([gc[k] for k in ("x", "y", "z", "vx", "vy", "vz")]).ravel()

        steps = np.array([1e-7, 1e-7, 1e-6, 1e-6, 1e-6, 1e-5])
        jacobian = np.column_stack(
            [(phase_space(point + s * e) - phase_space(point - s * e)) / (2 * s) for s, e in zip(steps, np.eye(6))]
        )
        expected = K_PM**2 * dist**4 * np.cos(np.radians(dec))
        assert abs(np.linalg.det(jacobian)) == pytest.approx(expected, rel=1e-6)


def test_proper_motion_and_velocity_errors_are_as_catalogued():
    clusters = _clusters()
    obs = draw_observables(clusters, 40000, seed=3)
    for i, row in clusters.iterrows():
        assert np.corrcoef(obs["pmra"][i], obs["pmdec"][i])[0, 1] == pytest.approx(row["pmcorr"], abs=0.015)
        assert obs["pmdec"][i].std() == pytest.approx(row["pmdec_e"], rel=0.02)
        assert obs["vlos"][i].std() == pytest.approx(row["vloserr"], rel=0.02)
        assert obs["vlos"][i].mean() == pytest.approx(row["vlos"], abs=4 * row["vloserr"] / 200)
    with pytest.raises(ValueError, match="n_draws"):
        draw_clusters(clusters, 0, seed=1, galaxy_frame=FRAME)
    with pytest.raises(ValueError, match="modulus_error_mag"):
        draw_clusters(clusters, 5, seed=1, galaxy_frame=FRAME, modulus_error_mag=-0.1)
