"""The embedded mock Galaxy: a known potential, an equilibrium stellar halo and a disk.

Truth potential (spherical, so the truth is exact): a Plummer bulge, two Plummer
spheres standing in for the two Miyamoto–Nagai disks of METHOD.md §5 and an NFW
halo given by (M200, c200). A Plummer sphere of scale a + b has exactly the
potential and circular speed of a Miyamoto–Nagai disk (a, b) *in the plane
z = 0*, so the §5 model evaluated in the plane contains the truth. Off the plane
the two differ; the mock's vertical force K_z is that of the axisymmetric §5
model (Miyamoto–Nagai disks) with the same halo, which shares the spherical
truth's potential in the plane.

Escape speeds are to the boundary 2·r200 (configurable), and the halo DF is
galpy's Eddington-inversion DF cut off at E = Φ(2·r200): every bound halo star
has v < v_esc(r) = sqrt(2 [Φ(r_b) − Φ(r)]).

The mock's globular clusters are drawn in the same truth potential either from a
double-power-law DF in actions, the family the globular-cluster constraint fits
(``sample_clusters_from_actions``), or from galpy's Osipkov–Merritt DF of a
double-power-law tracer density (``cluster_df``, ``sample_clusters``), an equilibrium
system outside that family (radially anisotropic beyond the anisotropy radius);
``observe_clusters`` gives each the errors of a randomly paired real cluster.

Units: kpc, km/s, Msun. Galactocentric frame of astropy (X from the Sun towards
the Galactic centre, prograde orbits have v_φ < 0).
"""

from __future__ import annotations

import functools
import operator
import warnings
from typing import TYPE_CHECKING

import astropy.constants as c
import astropy.units as u
import numpy as np
import pandas as pd
from galpy.potential import (
    MiyamotoNagaiPotential,
    NFWPotential,
    PlummerPotential,
    TwoPowerSphericalPotential,
    evaluatePotentials,
    evaluatezforces,
    mass,
    vcirc,
)

from milkyway_mass.galaxy.coordinates import icrs_observables
from milkyway_mass.galaxy.dynamics.actions import spherical_actions
from milkyway_mass.galaxy.dynamics.double_power_law import DoublePowerLawDF
from milkyway_mass.galaxy.model import ENCLOSED_MASS_RADII_KPC
from milkyway_mass.galaxy.potentials.monopole import MonopoleTable
from milkyway_mass.galaxy.units import Cosmology, G, r200_from_m200

if TYPE_CHECKING:
    from galpy.df import eddingtondf, osipkovmerrittdf


class TruthGalaxy:
    """The mock's spherical truth potential in galpy, with physical-unit helpers.

    ``bulge`` is a Plummer sphere ``{"mass_msun", "scale_kpc"}``; each of
    ``disks`` is a Miyamoto–Nagai disk ``{"mass_msun", "a_kpc", "b_kpc"}``,
    represented in the spherical truth by a Plummer sphere of scale a + b; the
    halo is NFW(M200, c200).
    """

    def __init__(
        self, bulge: dict, disks: dict, m200: float, c200: float, cosmology: dict, frame: dict, boundary_r200: float
    ):
        self.ro = frame["R0_kpc"]
        self.vo = frame["vc_R0_kms"]
        self.m200 = float(m200)
        self.c200 = float(c200)
        self.r200 = float(r200_from_m200(m200, Cosmology.from_config(cosmology)))
        self.r_boundary = boundary_r200 * self.r200
        self.components = {
            "bulge": dict(bulge),
            **{name: {**d, "plummer_scale_kpc": d["a_kpc"] + d["b_kpc"]} for name, d in disks.items()},
        }
        kw = {"ro": self.ro, "vo": self.vo}
        bulge_pot = PlummerPotential(amp=bulge["mass_msun"] * u.Msun, b=bulge["scale_kpc"] * u.kpc, **kw)
        self.baryons = [bulge_pot] + [
            PlummerPotential(amp=d["mass_msun"] * u.Msun, b=(d["a_kpc"] + d["b_kpc"]) * u.kpc, **kw)
            for d in disks.values()
        ]
        disk_pots = [
            MiyamotoNagaiPotential(amp=d["mass_msun"] * u.Msun, a=d["a_kpc"] * u.kpc, b=d["b_kpc"] * u.kpc, **kw)
            for d in disks.values()
        ]
        self.halo = NFWPotential(
            # M200 = (4π/3)·200·Ωm·ρcrit·r200³: galpy's overdensity w.r.t. critical is 200·Ωm.
            conc=self.c200,
            mvir=self.m200 / 1e12,
            H=cosmology["H0_kms_mpc"],
            Om=cosmology["Om"],
            overdens=200.0 * cosmology["Om"],
            wrtcrit=True,
            **kw,
        )
        self.potentials = [*self.baryons, self.halo]
        self.composite = functools.reduce(operator.add, self.potentials)
        self.axisymmetric = functools.reduce(operator.add, [bulge_pot, *disk_pots, self.halo])

    @classmethod
    def from_config(cls, potential: dict, cosmology: dict, frame: dict) -> TruthGalaxy:
        """From a potential block of the parameters (``mock_survey.truth``, ``calibration.potential``):
        bulge, disks, M200_msun, c200, boundary_r200."""
        return cls(
            potential["bulge"],
            potential["disks"],
            potential["M200_msun"],
            potential["c200"],
            cosmology,
            frame,
            potential["boundary_r200"],
        )

    def phi(self, r_kpc, pot=None) -> np.ndarray:
        """Potential [km²/s²] at spherical radius r [kpc] (of ``pot``, default the total)."""
        r = np.atleast_1d(np.asarray(r_kpc, dtype=float)) / self.ro
        return evaluatePotentials(pot or self.composite, r, 0.0, use_physical=False) * self.vo**2

    def vesc(self, r_kpc) -> np.ndarray:
        """Escape speed [km/s] to the boundary r_b: sqrt(2 [Φ(r_b) − Φ(r)])."""
        return np.sqrt(2.0 * (self.phi(self.r_boundary) - self.phi(r_kpc)))

    def vcirc(self, r_kpc) -> np.ndarray:
        """Circular speed [km/s] at r [kpc] (in the plane; spherical potential)."""
        r = np.atleast_1d(np.asarray(r_kpc, dtype=float)) / self.ro
        return np.asarray(vcirc(self.composite, r, use_physical=False)) * self.vo

    def monopole_table(self, r_min_kpc: float = 1e-3, r_max_kpc: float = 1e4, n: int = 512) -> MonopoleTable:
        """The truth potential (spherical, zero at infinity) as a ``MonopoleTable`` for
        ``dynamics.actions.spherical_actions``: Φ(r) [km²/s²] and dΦ/dr = v_c² / r."""
        r = np.geomspace(r_min_kpc, r_max_kpc, int(n))
        return MonopoleTable.from_arrays(r, self.phi(r), self.vcirc(r) ** 2 / r)

    def kz(self, R_kpc, z_kpc) -> np.ndarray:
        """Vertical force |K_z| = ∂Φ/∂z (z > 0) of the axisymmetric §5 model, in (km/s)²/kpc."""
        R = np.atleast_1d(np.asarray(R_kpc, dtype=float)) / self.ro
        z = np.broadcast_to(np.asarray(z_kpc, dtype=float) / self.ro, R.shape)
        fz = evaluatezforces(self.axisymmetric, R, z, use_physical=False)
        return -np.asarray(fz) * self.vo**2 / self.ro

    def rho_dm_gev_cm3(self, r_kpc: float) -> float:
        """Dark-matter (NFW) density at spherical radius r [kpc], in GeV/cm³."""
        rho = self.halo.dens(r_kpc / self.ro, 0.0, use_physical=False) * self.vo**2 / self.ro**2 / G  # Msun/kpc^3
        return float((rho * u.Msun / u.kpc**3 * c.c**2).to_value(u.GeV / u.cm**3))

    def enclosed_mass(self, r_kpc: float) -> float:
        """Total mass [Msun] inside the sphere of radius r [kpc]."""
        m = sum(mass(p, r_kpc / self.ro, use_physical=False) for p in self.potentials)
        return float(m) * self.vo**2 * self.ro / G


def truth_summary(galaxy: TruthGalaxy, r_grid_kpc: np.ndarray) -> dict:
    """The truth as a JSON-ready dict: potential, M200/c200/r200, v_esc(r) on a grid."""
    return {
        "boundary": "2*r200"
        if np.isclose(galaxy.r_boundary, 2 * galaxy.r200)
        else f"{galaxy.r_boundary / galaxy.r200:g}*r200",
        "r_boundary_kpc": galaxy.r_boundary,
        "M200_msun": galaxy.m200,
        "c200": galaxy.c200,
        "r200_kpc": galaxy.r200,
        "rs_kpc": galaxy.r200 / galaxy.c200,
        "M_total_r200_msun": galaxy.enclosed_mass(galaxy.r200),
        "vc_R0_kms": float(galaxy.vcirc(galaxy.ro)[0]),
        "vesc_R0_kms": float(galaxy.vesc(galaxy.ro)[0]),
        "rho_dm_R0_gev_cm3": galaxy.rho_dm_gev_cm3(galaxy.ro),
        "M_enclosed_msun": {f"{r:g}_kpc": galaxy.enclosed_mass(r) for r in ENCLOSED_MASS_RADII_KPC},
        "baryons": galaxy.components,
        "note": (
            "Spherical truth: Plummer bulge, Plummer spheres of scale a+b standing in for the "
            "Miyamoto-Nagai disks (identical potential and circular speed in the plane z=0), "
            "NFW halo with M200 = (4pi/3) 200 rho_crit Om r200^3. v_esc to r_boundary. "
            "The mock K_z is that of the axisymmetric model (Miyamoto-Nagai disks, same halo)."
        ),
        "vesc_curve": {
            "r_kpc": [float(r) for r in r_grid_kpc],
            "vesc_kms": [float(v) for v in galaxy.vesc(r_grid_kpc)],
        },
    }


def _spherical_to_cartesian(r, cos_theta, phi):
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    return r * sin_theta * np.cos(phi), r * sin_theta * np.sin(phi), r * cos_theta


def _tracer_density(galaxy: TruthGalaxy, tracer: dict) -> TwoPowerSphericalPotential:
    """The tracer density rho ∝ (r/a)^-inner (1 + r/a)^(inner − outer) as galpy's ``denspot``
    (``scale_kpc``, ``inner_slope``, ``outer_slope``; its amplitude does not matter)."""
    return TwoPowerSphericalPotential(
        amp=1.0,
        a=tracer["scale_kpc"] * u.kpc,
        alpha=tracer["inner_slope"],
        beta=tracer["outer_slope"],
        ro=galaxy.ro,
        vo=galaxy.vo,
    )


def halo_df(galaxy: TruthGalaxy, tracer: dict) -> eddingtondf:
    """galpy's isotropic Eddington DF of the halo tracer in the truth potential.

    Tracer density ρ ∝ (r/a)^-inner (1 + r/a)^(inner − outer); the DF is cut off
    at E = Φ(r_boundary), so bound stars never exceed v_esc(r) to that boundary.
    Building it (the f(E) interpolation) takes a few seconds: build once, sample often.
    """
    tracer_pot = _tracer_density(galaxy, tracer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        from galpy.df import eddingtondf  # noqa: PLC0415 - galpy.df takes seconds to import; only mocks need it

        return eddingtondf(
            pot=galaxy.composite, denspot=tracer_pot, rmax=galaxy.r_boundary * u.kpc, ro=galaxy.ro, vo=galaxy.vo
        )


def sample_halo(galaxy: TruthGalaxy, df: eddingtondf, n: int, weighting: dict, seed: int) -> pd.DataFrame:
    """Draw ``n`` halo stars: radii from the documented radial weighting, velocities from the DF.

    At every radius the speed distribution is the DF's equilibrium one (see
    :func:`halo_df`), which never exceeds v_esc(r). Radii follow dN/d ln r ∝ r^(-slope) on [r_min, r_max] instead of the tracer's
    own profile: a survey-like depth that keeps enough distant stars (the
    weighting changes only how many stars sit at each r, not p(v | r)).
    galpy samples from numpy's global RNG, which is seeded here from ``seed``.
    """
    rng = np.random.default_rng(seed)
    lo, hi, slope = np.log(weighting["r_min_kpc"]), np.log(weighting["r_max_kpc"]), weighting["slope"]
    if slope == 0:
        lnr = rng.uniform(lo, hi, n)
    else:  # inverse CDF of p(ln r) ∝ exp(-slope ln r)
        a, b = np.exp(-slope * lo), np.exp(-slope * hi)
        lnr = -np.log(a + rng.uniform(0.0, 1.0, n) * (b - a)) / slope
    r = np.exp(lnr)
    cos_theta = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(0.0, 2 * np.pi, n)
    x, y, z = _spherical_to_cartesian(r, cos_theta, phi)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.random.seed(seed)
        R_cyl = np.hypot(x, y)
        out = df.sample(R=R_cyl / galaxy.ro, z=z / galaxy.ro, phi=np.arctan2(y, x), return_orbit=False)
    _, vR, vT, _, vz, _ = (np.asarray(q, dtype=float) for q in out)
    vR, vT, vz = vR * galaxy.vo, vT * galaxy.vo, vz * galaxy.vo
    # galpy's vT is along +phi; our v_phi uses the same phi = atan2(y, x).
    phi_c = np.arctan2(y, x)
    vx = vR * np.cos(phi_c) - vT * np.sin(phi_c)
    vy = vR * np.sin(phi_c) + vT * np.cos(phi_c)
    return pd.DataFrame({"x": x, "y": y, "z": z, "vx": vx, "vy": vy, "vz": vz, "population": "halo"})


def sample_disk(galaxy: TruthGalaxy, n: int, disk: dict, sun_xyz: np.ndarray, seed: int) -> pd.DataFrame:
    """Draw ``n`` disk giants within ``disk['d_max_kpc']`` of the Sun.

    Exponential in R (scale ``scale_length_kpc``) and |z| (``scale_height_kpc``);
    v_φ = −(v_c(R) − lag) + N(0, σ_φ) so the disk rotates prograde (v_φ < 0).
    """
    rng = np.random.default_rng(seed)
    rows = []
    n_have = 0
    while n_have < n:
        m = 4 * (n - n_have) + 1000
        R = rng.exponential(disk["scale_length_kpc"], m) + disk["R_min_kpc"]
        z = rng.exponential(disk["scale_height_kpc"], m) * rng.choice([-1.0, 1.0], m)
        phi = rng.uniform(0, 2 * np.pi, m)
        x, y = R * np.cos(phi), R * np.sin(phi)
        near = np.sqrt((x - sun_xyz[0]) ** 2 + (y - sun_xyz[1]) ** 2 + (z - sun_xyz[2]) ** 2) < disk["d_max_kpc"]
        rows.append((x[near], y[near], z[near], R[near], phi[near]))
        n_have += near.sum()
    x, y, z, R, phi = (np.concatenate(c)[:n] for c in zip(*rows, strict=True))
    sig_R, sig_phi, sig_z = disk["sigma_kms"]
    v_phi = -(galaxy.vcirc(np.hypot(R, z)) - disk["lag_kms"]) + rng.normal(0, sig_phi, n)
    v_R = rng.normal(0, sig_R, n)
    vz = rng.normal(0, sig_z, n)
    vx = v_R * np.cos(phi) - v_phi * np.sin(phi)
    vy = v_R * np.sin(phi) + v_phi * np.cos(phi)
    return pd.DataFrame({"x": x, "y": y, "z": z, "vx": vx, "vy": vy, "vz": vz})


def unbound_velocities(
    galaxy: TruthGalaxy, stars: pd.DataFrame, speed_range: tuple[float, float], seed: int
) -> pd.DataFrame:
    """Give ``stars`` isotropic velocities with speed uniform in [lo, hi]·v_esc(r) (unbound outliers)."""
    rng = np.random.default_rng(seed)
    n = len(stars)
    r = np.sqrt(stars["x"] ** 2 + stars["y"] ** 2 + stars["z"] ** 2).to_numpy()
    speed = galaxy.vesc(r) * rng.uniform(*speed_range, n)
    vx, vy, vz = _spherical_to_cartesian(speed, rng.uniform(-1, 1, n), rng.uniform(0, 2 * np.pi, n))
    return stars.assign(vx=vx, vy=vy, vz=vz)


def cluster_df(galaxy: TruthGalaxy, tracer: dict) -> osipkovmerrittdf:
    """galpy's Osipkov–Merritt DF of the globular-cluster system in the truth potential.

    Tracer density rho ∝ (r/a)^-inner (1 + r/a)^(inner − outer) (``scale_kpc``,
    ``inner_slope``, ``outer_slope``), isotropic inside and radially anisotropic
    outside ``anisotropy_radius_kpc``, cut off at ``r_max_kpc``.
    """
    tracer_pot = _tracer_density(galaxy, tracer)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        from galpy.df import osipkovmerrittdf  # noqa: PLC0415 - as in halo_df

        return osipkovmerrittdf(
            pot=galaxy.composite,
            denspot=tracer_pot,
            ra=tracer["anisotropy_radius_kpc"] * u.kpc,
            rmax=tracer["r_max_kpc"] * u.kpc,
            ro=galaxy.ro,
            vo=galaxy.vo,
        )


def sample_clusters(galaxy: TruthGalaxy, df: osipkovmerrittdf, n: int, seed: int) -> pd.DataFrame:
    """Draw ``n`` clusters (positions and velocities) from ``df``: Galactocentric x, y, z [kpc]
    and vx, vy, vz [km/s]. galpy samples from numpy's global RNG, seeded here from ``seed``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        np.random.seed(seed)
        R, vR, vT, z, vz, phi = (np.asarray(q, dtype=float) for q in df.sample(n=int(n), return_orbit=False))
    R, z, vR, vT, vz = R * galaxy.ro, z * galaxy.ro, vR * galaxy.vo, vT * galaxy.vo, vz * galaxy.vo
    x, y = R * np.cos(phi), R * np.sin(phi)
    vx = vR * np.cos(phi) - vT * np.sin(phi)
    vy = vR * np.sin(phi) + vT * np.cos(phi)
    return pd.DataFrame({"x": x, "y": y, "z": z, "vx": vx, "vy": vy, "vz": vz})


def sample_clusters_from_actions(
    galaxy: TruthGalaxy,
    df: DoublePowerLawDF,
    n: int,
    seed: int,
    n_proposals: int = 1_000_000,
    r_range_kpc: tuple[float, float] = (0.01, 1000.0),
    chunk: int = 200_000,
) -> pd.DataFrame:
    """Draw ``n`` clusters from the action DF ``df`` (one parameter set) in the truth
    potential: Galactocentric x, y, z [kpc] and vx, vy, vz [km/s].

    Sampling–importance–resampling: ``n_proposals`` points are drawn with ln r uniform on
    ``r_range_kpc``, isotropic directions, and velocities uniform in the ball of bound
    speeds |v| < sqrt(−2 Φ(r)); each is weighted by f(J) / q with J its spherical actions
    (``dynamics.actions.spherical_actions``, exact in this spherical potential) and q the
    proposal's phase-space density, q ∝ r⁻³ (−2 Φ(r))^(−3/2); ``n`` of them are then
    drawn without replacement with probabilities ∝ weight. The effective sample size of
    the weights must exceed 20 ``n`` (else raise: use more proposals). The DF's mass
    outside ``r_range_kpc`` is left out (for the default range, clusters within 10 pc of
    the centre or beyond 1 Mpc). Seeded by ``seed`` alone.
    """
    if np.size(df.slope_in) != 1:
        raise ValueError("sample_clusters_from_actions needs one DF parameter set")
    rng = np.random.default_rng(int(seed))
    table = galaxy.monopole_table()
    lo, hi = np.log(r_range_kpc[0]), np.log(r_range_kpc[1])
    points, ln_w = [], []
    for start in range(0, int(n_proposals), int(chunk)):
        m = min(int(chunk), int(n_proposals) - start)
        r = np.exp(rng.uniform(lo, hi, m))
        x = np.stack(_spherical_to_cartesian(r, rng.uniform(-1, 1, m), rng.uniform(0, 2 * np.pi, m)))
        v_bound = np.sqrt(-2.0 * table.potential(r).reshape(-1))
        speed = v_bound * rng.uniform(0.0, 1.0, m) ** (1.0 / 3.0)
        v = np.stack(_spherical_to_cartesian(speed, rng.uniform(-1, 1, m), rng.uniform(0, 2 * np.pi, m)))
        angular = np.cross(x.T, v.T).T
        J = spherical_actions(table, r, speed**2, np.linalg.norm(angular, axis=0), angular[2])
        with np.errstate(invalid="ignore", divide="ignore"):
            ln_f = df.log_f(J["J_r"], J["J_z"], J["J_phi"]).reshape(-1)
        ln_f = np.where(J["bound"].reshape(-1) & np.isfinite(ln_f), ln_f, -np.inf)
        ln_w.append(ln_f + 3.0 * np.log(r) + 3.0 * np.log(v_bound))
        points.append(np.concatenate([x, v]).T)
    ln_w, points = np.concatenate(ln_w), np.concatenate(points)
    w = np.exp(ln_w - ln_w.max())
    p = w / w.sum()
    ess = 1.0 / np.sum(p**2)
    if ess < 20 * n:
        raise ValueError(
            f"sampling the cluster DF: effective sample size {ess:.0f} of {int(n_proposals)} proposals is below "
            f"20 x {n} clusters; raise n_proposals"
        )
    chosen = points[rng.choice(len(p), size=int(n), replace=False, p=p)]
    return pd.DataFrame(chosen, columns=["x", "y", "z", "vx", "vy", "vz"])


def observe_clusters(clusters: pd.DataFrame, reference: pd.DataFrame, frame: dict, seed: int) -> pd.DataFrame:
    """Catalogue rows (``globular_clusters.catalogue.COLUMNS``) of mock clusters observed with
    real errors: each takes the fractional distance error, v_los error, proper-motion errors
    and their correlation of a cluster of ``reference`` drawn at random (those with a distance
    error), and its distance, v_los and proper motions are drawn around the truth with them
    (Gaussian; positions exact). Names are ``Mock_GC_<i>``; ``sigma`` and ``rmax`` are NaN,
    the parallax is 1 / distance with the paired cluster's error."""
    rng = np.random.default_rng(seed)
    n = len(clusters)
    usable = reference[np.isfinite(reference["disterr"]) & (reference["disterr"] > 0)].reset_index(drop=True)
    pair = usable.iloc[rng.integers(0, len(usable), n)].reset_index(drop=True)
    truth = icrs_observables(*(clusters[c].to_numpy() for c in ("x", "y", "z", "vx", "vy", "vz")), frame)
    frac = (pair["disterr"] / pair["dist"]).to_numpy()
    z = rng.standard_normal((4, n))
    corr = pair["pmcorr"].to_numpy()
    dist = truth["dist"] * np.maximum(1.0 + frac * z[0], 0.05)
    return pd.DataFrame(
        {
            "Name": [f"Mock_GC_{i:03d}" for i in range(n)],
            "ra": truth["ra"],
            "dec": truth["dec"],
            "dist": dist,
            "disterr": frac * dist,
            "vlos": truth["rv"] + pair["vloserr"].to_numpy() * z[1],
            "vloserr": pair["vloserr"].to_numpy(),
            "sigma": np.nan,
            "rmax": np.nan,
            "pmra": truth["pmra"] + pair["pmra_e"].to_numpy() * z[2],
            "pmdec": truth["pmdec"] + pair["pmdec_e"].to_numpy() * (corr * z[2] + np.sqrt(1.0 - corr**2) * z[3]),
            "plx": 1.0 / dist,
            "pmra_e": pair["pmra_e"].to_numpy(),
            "pmdec_e": pair["pmdec_e"].to_numpy(),
            "pmcorr": corr,
            "plx_e": pair["plx_e"].to_numpy(),
        }
    )
