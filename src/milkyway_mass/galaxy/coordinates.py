"""Heliocentric (ICRS) → Galactocentric positions and velocities, with Monte Carlo errors.

Frame definition: astropy's ``Galactocentric`` frame with ``galcen_distance = R0``,
``z_sun = z0``, ``galcen_v_sun = (U, V + vc(R0), W)`` and roll 0, built from the
``galaxy_frame`` parameters (``R0_kpc``, ``z0_kpc``, ``v_sun_peculiar_kms``,
``vc_R0_kms``). X points from the Sun towards the Galactic centre (the Sun sits
near X = -R0), Y along Galactic rotation at the Sun, Z to the north Galactic pole.
Cylindrical: ``phi = atan2(Y, X)``, ``v_phi = (X v_Y - Y v_X) / R``, so
**prograde (disk-like) orbits have v_phi < 0** (the Sun has v_phi ≈ -246 km/s).

The fast path applies the same affine map as astropy (``x_gc = A x_icrs + b``,
``v_gc = A v_icrs + v_sun``); ``A``, ``b`` and ``v_sun`` are read off astropy's own
transformation of the origin and three unit vectors, so the frame definition stays
astropy's. Units: kpc, km/s, mas/yr, degrees (``phi_gc`` in radians).
"""

from __future__ import annotations

from collections.abc import Mapping

import astropy.coordinates as coord
import astropy.units as u
import numpy as np
import pandas as pd

from milkyway_mass.galaxy.parallel import progress_bar

#: km/s per (kpc · mas/yr): v_tan = K_PM * d * mu.
K_PM = (1.0 * u.kpc * u.mas / u.yr).to_value(u.km / u.s, u.dimensionless_angles())

#: Input columns the transformation and the error propagation need.
REQUIRED_COLUMNS = (
    "ra",
    "dec",
    "dist",
    "dist_err",
    "rv",
    "rv_err",
    "pmra",
    "pmdec",
    "pmra_error",
    "pmdec_error",
    "pmra_pmdec_corr",
)


def galactocentric_frame(galaxy_frame: Mapping) -> coord.Galactocentric:
    """astropy Galactocentric frame for the ``galaxy_frame`` parameters (roll 0)."""
    U, V, W = galaxy_frame["v_sun_peculiar_kms"]
    return coord.Galactocentric(
        galcen_distance=galaxy_frame["R0_kpc"] * u.kpc,
        z_sun=galaxy_frame["z0_kpc"] * u.kpc,
        galcen_v_sun=coord.CartesianDifferential([U, V + galaxy_frame["vc_R0_kms"], W] * u.km / u.s),
        roll=0 * u.deg,
    )


def astropy_galactocentric(ra, dec, dist, rv, pmra, pmdec, galaxy_frame: Mapping) -> dict[str, np.ndarray]:
    """Reference transformation with astropy's SkyCoord (slow; used to check the fast path).

    Returns Cartesian ``x, y, z`` [kpc] and ``vx, vy, vz`` [km/s].
    """
    icrs = coord.SkyCoord(
        ra=np.asarray(ra, float) * u.deg,
        dec=np.asarray(dec, float) * u.deg,
        distance=np.asarray(dist, float) * u.kpc,
        pm_ra_cosdec=np.asarray(pmra, float) * u.mas / u.yr,
        pm_dec=np.asarray(pmdec, float) * u.mas / u.yr,
        radial_velocity=np.asarray(rv, float) * u.km / u.s,
        frame="icrs",
    )
    gc = icrs.transform_to(galactocentric_frame(galaxy_frame))
    pos = gc.cartesian
    vel = gc.velocity
    return {
        "x": pos.x.to_value(u.kpc),
        "y": pos.y.to_value(u.kpc),
        "z": pos.z.to_value(u.kpc),
        "vx": vel.d_x.to_value(u.km / u.s),
        "vy": vel.d_y.to_value(u.km / u.s),
        "vz": vel.d_z.to_value(u.km / u.s),
    }


def frame_affine_map(galaxy_frame: Mapping) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(A, b, v_sun)`` with ``x_gc = A @ x_icrs + b`` [kpc] and ``v_gc = A @ v_icrs + v_sun`` [km/s].

    Obtained by letting astropy transform the ICRS origin and the three unit vectors
    (at rest), so the map is exactly astropy's frame definition.
    """
    xyz = np.array([[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.0, 1.0]])
    rep = coord.CartesianRepresentation(
        xyz * u.kpc, differentials=coord.CartesianDifferential(np.zeros_like(xyz) * u.km / u.s)
    )
    gc = coord.ICRS(rep).transform_to(galactocentric_frame(galaxy_frame))
    pos = gc.cartesian.xyz.to_value(u.kpc)
    vel = gc.velocity.d_xyz.to_value(u.km / u.s)
    b = pos[:, 0]
    return pos[:, 1:] - b[:, None], b, vel[:, 0]


def sky_basis(ra, dec) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ICRS unit vectors (shape (3, n)): line of sight, east (increasing ra), north (increasing dec)."""
    a, d = np.deg2rad(np.asarray(ra, float)), np.deg2rad(np.asarray(dec, float))
    ca, sa, cd, sd = np.cos(a), np.sin(a), np.cos(d), np.sin(d)
    los = np.stack([cd * ca, cd * sa, sd])
    east = np.stack([-sa, ca, np.zeros_like(a)])
    north = np.stack([-sd * ca, -sd * sa, cd])
    return los, east, north


def galactocentric_cartesian(ra, dec, dist, rv, pmra, pmdec, galaxy_frame: Mapping) -> dict[str, np.ndarray]:
    """Fast vectorised transformation; same output as :func:`astropy_galactocentric`."""
    A, b, v_sun = frame_affine_map(galaxy_frame)
    los, east, north = (A @ e for e in sky_basis(ra, dec))
    dist = np.asarray(dist, float)
    pos = dist * los + b[:, None]
    vel = (
        np.asarray(rv, float) * los
        + K_PM * dist * (np.asarray(pmra, float) * east + np.asarray(pmdec, float) * north)
        + v_sun[:, None]
    )
    return {"x": pos[0], "y": pos[1], "z": pos[2], "vx": vel[0], "vy": vel[1], "vz": vel[2]}


def icrs_observables(x, y, z, vx, vy, vz, galaxy_frame: Mapping) -> dict[str, np.ndarray]:
    """Inverse of :func:`galactocentric_cartesian`: ICRS ``ra``, ``dec`` [deg], ``dist`` [kpc],
    ``rv`` [km/s], ``pmra`` (mu_alpha cos delta) and ``pmdec`` [mas/yr] of Galactocentric
    positions [kpc] and velocities [km/s]."""
    A, b, v_sun = frame_affine_map(galaxy_frame)
    pos = A.T @ (np.stack([np.asarray(q, float) for q in (x, y, z)]) - b[:, None])
    vel = A.T @ (np.stack([np.asarray(q, float) for q in (vx, vy, vz)]) - v_sun[:, None])
    dist = np.linalg.norm(pos, axis=0)
    ra = np.degrees(np.arctan2(pos[1], pos[0])) % 360.0
    dec = np.degrees(np.arcsin(pos[2] / dist))
    los, east, north = sky_basis(ra, dec)
    return {
        "ra": ra,
        "dec": dec,
        "dist": dist,
        "rv": np.sum(vel * los, axis=0),
        "pmra": np.sum(vel * east, axis=0) / (K_PM * dist),
        "pmdec": np.sum(vel * north, axis=0) / (K_PM * dist),
    }


def _cos_sin_phi(x, y):
    """cos and sin of phi = atan2(y, x); on the Z axis (R = 0) phi = 0 as atan2 gives."""
    R = np.hypot(x, y)
    on_axis = R == 0
    cos_phi = np.divide(x, R, out=np.ones_like(R), where=~on_axis)
    sin_phi = np.divide(y, R, out=np.zeros_like(R), where=~on_axis)
    return R, cos_phi, sin_phi


def cylindrical(x, y, z, vx, vy, vz) -> dict[str, np.ndarray]:
    """Galactocentric cylindrical/spherical quantities; prograde orbits have v_phi < 0.

    Returns ``R_gc, phi_gc`` (rad, atan2(Y, X)), ``r_gc`` [kpc] and
    ``v_R, v_phi, v_z, v_gc`` [km/s].
    """
    R, cos_phi, sin_phi = _cos_sin_phi(x, y)
    return {
        "R_gc": R,
        "phi_gc": np.arctan2(y, x),
        "r_gc": np.sqrt(R**2 + z**2),
        "v_R": vx * cos_phi + vy * sin_phi,
        "v_phi": vy * cos_phi - vx * sin_phi,
        "v_z": vz,
        "v_gc": np.sqrt(vx**2 + vy**2 + vz**2),
    }


def validate_stars(stars: pd.DataFrame) -> None:
    """Raise ``ValueError`` naming the column if the 6D input cannot be transformed.

    Required: every column of :data:`REQUIRED_COLUMNS`, all finite; ``dist > 0``;
    errors ``>= 0``; ``|dec| <= 90``; ``|pmra_pmdec_corr| <= 1``.
    """
    missing = [c for c in REQUIRED_COLUMNS if c not in stars.columns]
    if missing:
        raise ValueError(f"stars table lacks column(s) {missing} needed for the Galactocentric transformation")
    checks = [(c, "finite", np.isfinite) for c in REQUIRED_COLUMNS]
    checks += [
        ("dist", "> 0", lambda v: v > 0),
        ("dec", "within [-90, 90] deg", lambda v: np.abs(v) <= 90),
        ("pmra_pmdec_corr", "within [-1, 1]", lambda v: np.abs(v) <= 1),
    ]
    checks += [(c, ">= 0", lambda v: v >= 0) for c in ("dist_err", "rv_err", "pmra_error", "pmdec_error")]
    for column, rule, ok in checks:
        values = stars[column].to_numpy(dtype=float)
        bad = ~ok(values)
        if bad.any():
            first = stars.index[np.flatnonzero(bad)[0]]
            raise ValueError(
                f"column '{column}' must be {rule}: {int(bad.sum())} star(s) violate it "
                f"(first at index {first}, value {values[bad][0]!r})"
            )


def lognormal_distances(dist, dist_err, z):
    """Positive distance draws: log-normal with mean ``dist`` and standard deviation ``dist_err``.

    ``z`` are standard-normal deviates broadcastable against ``dist``; ln d has
    sigma² = ln(1 + (dist_err/dist)²) and mean ln(dist) - sigma²/2.
    """
    s_ln = np.sqrt(np.log1p((dist_err / dist) ** 2))
    return np.exp(np.log(dist) - 0.5 * s_ln**2 + s_ln * z)


def monte_carlo_sigmas(
    chunk: pd.DataFrame, A, b, v_sun, n_draws: int, rng: np.random.Generator
) -> dict[str, np.ndarray]:
    """Monte Carlo standard deviations (ddof=1) of v_R, v_phi, v_z, v_gc [km/s] for one chunk.

    Per star, ``n_draws`` draws of: distance from :func:`lognormal_distances`
    (always positive; ≈ Gaussian for small σ_d/d); rv Gaussian; (pmra, pmdec)
    bivariate Gaussian with correlation ``pmra_pmdec_corr``. Normal deviates are
    drawn as one (n, 4, n_draws) block, so for a given seed the result does not
    depend on how the catalogue is chunked.
    """
    n = len(chunk)
    col = {c: chunk[c].to_numpy(dtype=float)[:, None] for c in REQUIRED_COLUMNS}
    z = rng.standard_normal((n, 4, n_draws))
    dist = lognormal_distances(col["dist"], col["dist_err"], z[:, 0])
    rv = col["rv"] + col["rv_err"] * z[:, 1]
    rho = col["pmra_pmdec_corr"]
    pm_east = K_PM * dist * (col["pmra"] + col["pmra_error"] * z[:, 2])
    pm_north = K_PM * dist * (col["pmdec"] + col["pmdec_error"] * (rho * z[:, 2] + np.sqrt(1 - rho**2) * z[:, 3]))
    del z
    los, east, north = (A @ e for e in sky_basis(chunk["ra"].to_numpy(), chunk["dec"].to_numpy()))
    x = dist * los[0][:, None] + b[0]
    y = dist * los[1][:, None] + b[1]
    del dist
    v = [rv * los[i][:, None] + pm_east * east[i][:, None] + pm_north * north[i][:, None] + v_sun[i] for i in range(3)]
    del rv, pm_east, pm_north
    _, cos_phi, sin_phi = _cos_sin_phi(x, y)
    del x, y
    return {
        "sigma_v_R": np.std(v[0] * cos_phi + v[1] * sin_phi, axis=1, ddof=1),
        "sigma_v_phi": np.std(v[1] * cos_phi - v[0] * sin_phi, axis=1, ddof=1),
        "sigma_v_z": np.std(v[2], axis=1, ddof=1),
        "sigma_v_gc": np.std(np.sqrt(v[0] ** 2 + v[1] ** 2 + v[2] ** 2), axis=1, ddof=1),
    }


def add_galactocentric_columns(
    stars: pd.DataFrame, galaxy_frame: Mapping, n_draws: int, seed: int, chunk_size: int, progress: bool = True
) -> pd.DataFrame:
    """Return ``stars`` with the ``schemas.GALACTOCENTRIC_COLUMNS`` appended.

    Central values come from the exact transformation of the catalogue values;
    ``sigma_*`` from :func:`monte_carlo_sigmas`, processed ``chunk_size`` stars at a
    time (memory ∝ chunk_size × n_draws) with one generator seeded by ``seed``.
    """
    if int(n_draws) < 2:
        raise ValueError(f"kinematics.mc_draws must be >= 2 to estimate a standard deviation, got {n_draws}")
    if int(chunk_size) < 1:
        raise ValueError(f"kinematics.chunk_size must be >= 1, got {chunk_size}")
    validate_stars(stars)
    n_draws, chunk_size = int(n_draws), int(chunk_size)
    cart = galactocentric_cartesian(
        *(stars[c].to_numpy() for c in ("ra", "dec", "dist", "rv", "pmra", "pmdec")), galaxy_frame
    )
    out = stars.copy()
    out["x_gc"], out["y_gc"], out["z_gc"] = cart["x"], cart["y"], cart["z"]
    cyl = cylindrical(**cart)
    for name in ("R_gc", "phi_gc", "r_gc", "v_R", "v_phi", "v_z", "v_gc"):
        out[name] = cyl[name]
    out["sigma_d_frac"] = stars["dist_err"].to_numpy(dtype=float) / stars["dist"].to_numpy(dtype=float)
    A, b, v_sun = frame_affine_map(galaxy_frame)
    rng = np.random.default_rng(seed)
    sigma_names = ("sigma_v_R", "sigma_v_phi", "sigma_v_z", "sigma_v_gc")
    sigmas = {name: np.empty(len(stars)) for name in sigma_names}
    starts = range(0, len(stars), chunk_size)
    with progress_bar(len(starts), f"MC errors ({n_draws} draws)", "chunk", progress) as bar:
        for start in starts:
            chunk = stars.iloc[start : start + chunk_size]
            for name, values in monte_carlo_sigmas(chunk, A, b, v_sun, n_draws, rng).items():
                sigmas[name][start : start + len(chunk)] = values
            bar.update()
    for name in sigma_names:
        out[name] = sigmas[name]
    return out
