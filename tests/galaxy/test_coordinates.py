"""Tests of milkyway_mass.galaxy.coordinates: fast path vs astropy, sign convention, Monte Carlo errors."""

import astropy.coordinates as coord
import astropy.units as u
import numpy as np
import pandas as pd
import pytest

from milkyway_mass.galaxy.coordinates import (
    K_PM,
    add_galactocentric_columns,
    astropy_galactocentric,
    cylindrical,
    frame_affine_map,
    galactocentric_cartesian,
    galactocentric_frame,
    icrs_observables,
    lognormal_distances,
    monte_carlo_sigmas,
)
from milkyway_mass.schemas import GALACTOCENTRIC_COLUMNS, STARS_6D_COLUMNS

FRAME = {"R0_kpc": 8.122, "z0_kpc": 0.0208, "v_sun_peculiar_kms": [11.1, 12.24, 7.25], "vc_R0_kms": 234.04}
POS_TOL, VEL_TOL = 1e-9, 1e-6  # kpc, km/s
KEYS = ("ra", "dec", "dist", "rv", "pmra", "pmdec")


def make_stars_6d(n: int, seed: int = 1, frac_err: float = 0.1) -> pd.DataFrame:
    """Random stars with all ``STARS_6D_COLUMNS`` (isotropic sky, 0.1–60 kpc)."""
    rng = np.random.default_rng(seed)
    stars = pd.DataFrame(
        {
            "obsid": np.arange(n, dtype=np.int64),
            "source_id": np.arange(n, dtype=np.int64) + 10**15,
            "ra": rng.uniform(0, 360, n),
            "dec": np.rad2deg(np.arcsin(rng.uniform(-1, 1, n))),
            "dist": 10 ** rng.uniform(-1, np.log10(60), n),
            "rv": rng.normal(0, 150, n),
            "pmra": rng.normal(0, 4, n),
            "pmdec": rng.normal(0, 4, n),
            "pmra_error": rng.uniform(0.01, 0.1, n),
            "pmdec_error": rng.uniform(0.01, 0.1, n),
            "pmra_pmdec_corr": rng.uniform(-0.5, 0.5, n),
            "rv_err": rng.uniform(1, 10, n),
            "parallax": rng.normal(0.2, 0.05, n),
            "parallax_error": rng.uniform(0.01, 0.1, n),
            "ruwe": rng.uniform(0.9, 1.3, n),
            "feh": rng.normal(-0.8, 0.6, n),
            "teff": rng.uniform(4000, 5300, n),
            "logg": rng.uniform(1, 3.5, n),
        }
    )
    stars["dist_err"] = frac_err * stars["dist"]
    return stars[list(STARS_6D_COLUMNS)]


def _compare_with_astropy(ra, dec, dist, rv, pmra, pmdec):
    ref = astropy_galactocentric(ra, dec, dist, rv, pmra, pmdec, FRAME)
    fast = galactocentric_cartesian(ra, dec, dist, rv, pmra, pmdec, FRAME)
    for k in ("x", "y", "z"):
        np.testing.assert_allclose(fast[k], ref[k], rtol=0, atol=POS_TOL, err_msg=k)
    for k in ("vx", "vy", "vz"):
        np.testing.assert_allclose(fast[k], ref[k], rtol=0, atol=VEL_TOL, err_msg=k)
    return fast


def test_fast_path_matches_astropy_on_random_stars():
    s = make_stars_6d(2000, seed=3)
    fast = _compare_with_astropy(*(s[k].to_numpy() for k in KEYS))
    # cylindrical quantities against astropy's own cylindrical representation
    gc = coord.SkyCoord(
        ra=s.ra.values * u.deg,
        dec=s.dec.values * u.deg,
        distance=s.dist.values * u.kpc,
        pm_ra_cosdec=s.pmra.values * u.mas / u.yr,
        pm_dec=s.pmdec.values * u.mas / u.yr,
        radial_velocity=s.rv.values * u.km / u.s,
    ).transform_to(galactocentric_frame(FRAME))
    cyl_rep = gc.represent_as(coord.CylindricalRepresentation, coord.CylindricalDifferential)
    dif = cyl_rep.differentials["s"]
    cyl = cylindrical(**fast)
    np.testing.assert_allclose(cyl["R_gc"], cyl_rep.rho.to_value(u.kpc), atol=POS_TOL)
    np.testing.assert_allclose(np.cos(cyl["phi_gc"]), np.cos(cyl_rep.phi.to_value(u.rad)), atol=1e-9)
    np.testing.assert_allclose(np.sin(cyl["phi_gc"]), np.sin(cyl_rep.phi.to_value(u.rad)), atol=1e-9)
    np.testing.assert_allclose(cyl["v_R"], dif.d_rho.to_value(u.km / u.s), atol=VEL_TOL)
    v_phi_astropy = (dif.d_phi * cyl_rep.rho).to_value(u.km / u.s, u.dimensionless_angles())
    np.testing.assert_allclose(cyl["v_phi"], v_phi_astropy, atol=VEL_TOL)
    np.testing.assert_allclose(cyl["v_z"], dif.d_z.to_value(u.km / u.s), atol=VEL_TOL)
    np.testing.assert_allclose(cyl["r_gc"], gc.spherical.distance.to_value(u.kpc), atol=POS_TOL)
    np.testing.assert_allclose(
        cyl["v_gc"], np.linalg.norm(gc.velocity.d_xyz.to_value(u.km / u.s), axis=0), atol=VEL_TOL
    )


def test_fast_path_matches_astropy_on_edge_cases():
    gal = coord.SkyCoord(l=[0, 0, 180, 123.0] * u.deg, b=[90, -90, 0, 0] * u.deg, frame="galactic").icrs
    gc_dir = galactocentric_frame(FRAME).galcen_coord
    cases = [  # (ra, dec, dist): celestial poles, Galactic poles / anticentre / plane, the GC direction
        (0.0, 90.0, 1.0),
        (0.0, -90.0, 2.0),
        (123.4, 90.0, 500.0),
        *zip(gal.ra.deg, gal.dec.deg, (3.0, 3.0, 8.122, 20.0)),
        (gc_dir.ra.deg, gc_dir.dec.deg, 8.122),
        (gc_dir.ra.deg, gc_dir.dec.deg, 8.12197337),
        (gc_dir.ra.deg, gc_dir.dec.deg, 30.0),
        (gc_dir.ra.deg, gc_dir.dec.deg, 1e-4),
        (17.0, -45.0, 2000.0),
        (250.0, 60.0, 5000.0),
        (gc_dir.ra.deg, gc_dir.dec.deg, 3000.0),  # very distant
    ]
    ra, dec, dist = (np.array(c, float) for c in zip(*cases))
    n = ra.size
    _compare_with_astropy(ra, dec, dist, np.linspace(-400, 400, n), np.linspace(-3, 3, n), np.linspace(2, -2, n))


def test_star_at_the_galactic_centre_has_finite_cylindrical_velocities():
    gc = coord.SkyCoord(
        x=[0.0] * u.kpc,
        y=[0.0] * u.kpc,
        z=[0.0] * u.kpc,
        v_x=[30.0] * u.km / u.s,
        v_y=[-40.0] * u.km / u.s,
        v_z=[5.0] * u.km / u.s,
        frame=galactocentric_frame(FRAME),
    ).icrs
    fast = _compare_with_astropy(
        gc.ra.deg, gc.dec.deg, gc.distance.kpc, gc.radial_velocity.value, gc.pm_ra_cosdec.value, gc.pm_dec.value
    )
    cyl = cylindrical(**fast)
    assert np.all(np.isfinite([cyl[k] for k in cyl]))
    np.testing.assert_allclose(cyl["v_gc"], np.sqrt(30**2 + 40**2 + 5**2), atol=VEL_TOL)


def test_prograde_circular_orbit_has_negative_v_phi():
    vc, R, phi = 230.0, 12.0, np.array([0.3, 2.5, np.pi, -1.2])
    x, y = R * np.cos(phi), R * np.sin(phi)
    # rotation in the sense of the Sun's motion (+Y at the Sun, X = -R0): L_z = x v_y - y v_x < 0
    vx, vy = vc * np.sin(phi), -vc * np.cos(phi)
    gc = coord.SkyCoord(
        x=x * u.kpc,
        y=y * u.kpc,
        z=np.zeros(4) * u.kpc,
        v_x=vx * u.km / u.s,
        v_y=vy * u.km / u.s,
        v_z=np.zeros(4) * u.km / u.s,
        frame=galactocentric_frame(FRAME),
    ).icrs
    cyl = cylindrical(
        **galactocentric_cartesian(
            gc.ra.deg,
            gc.dec.deg,
            gc.distance.kpc,
            gc.radial_velocity.value,
            gc.pm_ra_cosdec.value,
            gc.pm_dec.value,
            FRAME,
        )
    )
    np.testing.assert_allclose(cyl["v_phi"], -vc, atol=VEL_TOL)
    np.testing.assert_allclose(cyl["v_R"], 0.0, atol=VEL_TOL)
    np.testing.assert_allclose(cyl["R_gc"], R, atol=POS_TOL)
    # the Sun itself is prograde: v_phi = -(V + vc)
    A, b, v_sun = frame_affine_map(FRAME)
    sun = cylindrical(*(np.array([c]) for c in (*b, *v_sun)))
    np.testing.assert_allclose(sun["v_phi"], -(12.24 + 234.04), atol=1e-9)


def test_lognormal_distances_are_positive_with_requested_mean_and_sd():
    z = np.random.default_rng(5).standard_normal(400_000)
    for frac in (0.05, 0.5, 1.5):
        d = lognormal_distances(10.0, 10.0 * frac, z)
        assert d.min() > 0
        assert d.mean() == pytest.approx(10.0, rel=0.01 + 0.01 * frac)
        assert d.std() == pytest.approx(10.0 * frac, rel=0.02 + 0.05 * frac)


def _linear_sigmas(star: pd.Series) -> dict[str, float]:
    """Linear (Jacobian) propagation of the dist, rv, pmra, pmdec covariance, by central differences."""
    x0 = np.array([star.dist, star.rv, star.pmra, star.pmdec], float)
    errs = np.array([star.dist_err, star.rv_err, star.pmra_error, star.pmdec_error], float)
    cov = np.diag(errs**2)
    cov[2, 3] = cov[3, 2] = star.pmra_pmdec_corr * star.pmra_error * star.pmdec_error
    names = ("v_R", "v_phi", "v_z", "v_gc")

    def f(p):
        cart = galactocentric_cartesian([star.ra], [star.dec], [p[0]], [p[1]], [p[2]], [p[3]], FRAME)
        cyl = cylindrical(**cart)
        return np.array([cyl[k][0] for k in names])

    steps = 1e-4 * np.maximum(errs, 1e-3)
    jac = np.column_stack([(f(x0 + h * e) - f(x0 - h * e)) / (2 * h) for h, e in zip(steps, np.eye(4))])
    return dict(zip(names, np.sqrt(np.diag(jac @ cov @ jac.T))))


def test_monte_carlo_sigmas_match_linear_propagation_for_small_errors():
    stars = make_stars_6d(6, seed=11, frac_err=0.01)
    stars["pmra_pmdec_corr"] = [0.9, -0.9, 0.0, 0.5, -0.5, 0.3]
    stars["pmra_error"], stars["pmdec_error"] = 0.05, 0.08
    A, b, v_sun = frame_affine_map(FRAME)
    mc = monte_carlo_sigmas(stars, A, b, v_sun, 40_000, np.random.default_rng(2))
    for i, star in stars.iterrows():
        lin = _linear_sigmas(star)
        for k, sigma in lin.items():
            assert mc[f"sigma_{k}"][i] == pytest.approx(sigma, rel=0.03), (i, k)


def test_pm_correlation_changes_the_propagated_error():
    stars = make_stars_6d(1, seed=4, frac_err=0.001)
    stars["pmra"], stars["pmdec"], stars["dist"], stars["dist_err"] = 3.0, 3.0, 20.0, 0.02
    stars["pmra_error"] = stars["pmdec_error"] = 0.2
    A, b, v_sun = frame_affine_map(FRAME)
    out = {}
    for rho in (-0.9, 0.9):
        stars["pmra_pmdec_corr"] = rho
        out[rho] = monte_carlo_sigmas(stars, A, b, v_sun, 20_000, np.random.default_rng(0))["sigma_v_gc"][0]
        assert out[rho] == pytest.approx(_linear_sigmas(stars.iloc[0])["v_gc"], rel=0.03)
    assert abs(out[0.9] - out[-0.9]) > 0.2 * min(out.values())


def test_add_columns_contract_and_chunk_independence():
    stars = make_stars_6d(53, seed=8)
    a = add_galactocentric_columns(stars, FRAME, n_draws=30, seed=9, chunk_size=7, progress=False)
    b = add_galactocentric_columns(stars, FRAME, n_draws=30, seed=9, chunk_size=1000, progress=False)
    assert list(a.columns) == list(STARS_6D_COLUMNS) + list(GALACTOCENTRIC_COLUMNS)
    pd.testing.assert_frame_equal(a, b)
    np.testing.assert_allclose(a["sigma_d_frac"], 0.1)
    assert (a[["sigma_v_R", "sigma_v_phi", "sigma_v_z", "sigma_v_gc"]] > 0).all().all()
    c = add_galactocentric_columns(stars, FRAME, n_draws=30, seed=10, chunk_size=7, progress=False)
    assert not np.allclose(a["sigma_v_gc"], c["sigma_v_gc"])


def test_tangential_velocity_constant():
    # 1 mas/yr at 1 kpc is 4.74047 km/s
    assert K_PM == pytest.approx(4.740470463533348, rel=1e-12)


@pytest.mark.parametrize(
    ("column", "value", "match"),
    [
        ("rv", np.nan, "'rv' must be finite"),
        ("dist", -1.0, "'dist' must be > 0"),
        ("dist", 0.0, "'dist' must be > 0"),
        ("pmra_pmdec_corr", 1.5, "'pmra_pmdec_corr' must be within"),
        ("pmdec_error", -0.1, "'pmdec_error' must be >= 0"),
        ("dec", 91.0, "'dec' must be within"),
    ],
)
def test_bad_input_raises_naming_the_column(column, value, match):
    stars = make_stars_6d(10)
    stars.loc[4, column] = value
    with pytest.raises(ValueError, match=match):
        add_galactocentric_columns(stars, FRAME, n_draws=5, seed=1, chunk_size=4, progress=False)


def test_missing_column_and_bad_settings_raise():
    stars = make_stars_6d(5)
    with pytest.raises(ValueError, match="pmra_error"):
        add_galactocentric_columns(
            stars.drop(columns="pmra_error"), FRAME, n_draws=5, seed=1, chunk_size=4, progress=False
        )
    with pytest.raises(ValueError, match="mc_draws"):
        add_galactocentric_columns(stars, FRAME, n_draws=1, seed=1, chunk_size=4, progress=False)


def test_icrs_observables_invert_the_galactocentric_transform():
    rng = np.random.default_rng(5)
    n = 200
    obs = {
        "ra": rng.uniform(0, 360, n),
        "dec": np.degrees(np.arcsin(rng.uniform(-1, 1, n))),
        "dist": rng.uniform(0.5, 150.0, n),
        "rv": rng.normal(0, 150, n),
        "pmra": rng.normal(0, 3, n),
        "pmdec": rng.normal(0, 3, n),
    }
    gc = galactocentric_cartesian(*(obs[k] for k in ("ra", "dec", "dist", "rv", "pmra", "pmdec")), FRAME)
    back = icrs_observables(*(gc[k] for k in ("x", "y", "z", "vx", "vy", "vz")), FRAME)
    for key, value in obs.items():
        np.testing.assert_allclose(back[key], value, rtol=1e-9, atol=1e-9, err_msg=key)
