"""Baryon models against galpy: the fixed §5 model (closed forms), the homoeoid
integrals, the exponential-disk tables and the whole McMillan (2017) model."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from galpy.potential import (
    DoubleExponentialDiskPotential,
    HernquistPotential,
    MiyamotoNagaiPotential,
    PlummerPotential,
    TwoPowerTriaxialPotential,
)
from scipy.integrate import quad

from milkyway_mass.galaxy.potentials import baryon_tables
from milkyway_mass.galaxy.potentials.baryon_tables import (
    BulgeShape,
    GasDisk,
    TableGrid,
    spheroid_forces,
    spheroid_mass,
    spheroid_potential_plane,
)
from milkyway_mass.galaxy.potentials.baryons import (
    BARYON_MODELS,
    FixedBaryons,
    McMillanBaryons,
    build_baryons,
)
from milkyway_mass.galaxy.potentials.composite import (
    circular_speed,
    dphi_dz,
    potential,
    vc2_components,
)
from milkyway_mass.galaxy.units import G
from tests.conftest import load_params

#: McMillan (2017) best fit, the values galpy's McMillan17 uses.
MCMILLAN_BEST = {
    "rho0_bulge_msun_pc3": 98.4,
    "sigma0_thin_msun_pc2": 896.0,
    "rd_thin_kpc": 2.5,
    "sigma0_thick_msun_pc2": 183.0,
    "rd_thick_kpc": 3.02,
}
R_FIT = np.linspace(4.0, 25.0, 43)


@pytest.fixture(scope="module")
def mcmillan():
    return McMillanBaryons().build_tables()


@pytest.fixture(scope="module")
def galpy_mcmillan17():
    """galpy's McMillan17 disk + bulge in km/s and kpc: (vc, K_z at 1.1 kpc, Phi) at R_FIT."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # galpy's SCF code warns about numpy.divide(where=...)
        from galpy.potential.McMillan17 import McMillan_bulge, McMillan_disk, ro, vo  # noqa: PLC0415 - builds SCF expansions (~8 s)

        x, zeros = R_FIT / ro, np.zeros_like(R_FIT)
        pots = (McMillan_disk, McMillan_bulge)
        dR = -sum(p.Rforce(x, zeros, use_physical=False) for p in pots) * vo**2 / ro
        kz = -sum(p.zforce(x, zeros + 1.1 / ro, use_physical=False) for p in pots) * vo**2 / ro
        phi = sum(p(x, zeros, use_physical=False) for p in pots) * vo**2
        vc_bulge = np.sqrt(-x * McMillan_bulge.Rforce(x, zeros, use_physical=False)) * vo
    return {"vc": np.sqrt(R_FIT * dR), "kz": kz, "phi": phi, "vc_bulge": vc_bulge}


def test_fixed_model_matches_galpy():
    config = load_params()["halo_mass"]["model"]["baryons"]
    model = BARYON_MODELS["fixed"](config)
    assert isinstance(model, FixedBaryons) and model.parameter_names == ()
    components = model.components()
    assert set(components) == {"bulge", "thin_disk", "thick_disk"}
    b, thin, thick = (config[k] for k in ("bulge", "thin_disk", "thick_disk"))
    pots = [
        PlummerPotential(amp=b["mass_msun"] * G, b=b["b_kpc"]),
        MiyamotoNagaiPotential(amp=thin["mass_msun"] * G, a=thin["a_kpc"], b=thin["b_kpc"]),
        MiyamotoNagaiPotential(amp=thick["mass_msun"] * G, a=thick["a_kpc"], b=thick["b_kpc"]),
    ]
    zeros = np.zeros_like(R_FIT)
    comps = list(components.values())
    vc_galpy = np.sqrt(-R_FIT * sum(p.Rforce(R_FIT, zeros) for p in pots))
    np.testing.assert_allclose(circular_speed(comps, R_FIT), vc_galpy, rtol=1e-10)
    np.testing.assert_allclose(dphi_dz(comps, R_FIT, 1.1), -sum(p.zforce(R_FIT, zeros + 1.1) for p in pots), rtol=1e-10)
    np.testing.assert_allclose(potential(comps, R_FIT, 0.0), sum(p(R_FIT, zeros) for p in pots), rtol=1e-10)
    with pytest.raises(ValueError, match="no free parameters"):
        model.components({"rd_thin_kpc": 2.0})
    with pytest.raises(ValueError, match="bulge.*unknown type 'hernquist'"):
        FixedBaryons.from_config({"bulge": {"type": "hernquist", "mass_msun": 1e10}})
    with pytest.raises(ValueError, match="disk.*miyamoto_nagai"):
        FixedBaryons.from_config({"disk": {"type": "miyamoto_nagai", "mass_msun": 1e10, "a_kpc": 3.0}})


def _hernquist(a):
    return lambda m: 1.0 / (4 * np.pi * a**3) / ((m / a) * (1 + m / a) ** 3)


@pytest.mark.parametrize("q", [1.0, 0.5, 0.25])
def test_spheroid_integrals_match_galpy(q):
    a = 0.7
    R = np.geomspace(0.05, 100.0, 25)
    zeros = np.zeros_like(R)
    pot = (
        HernquistPotential(amp=1.0, a=a)
        if q == 1.0
        else TwoPowerTriaxialPotential(amp=1.0, a=a, alpha=1, beta=4, c=q, glorder=400)
    )
    dR, dz0 = spheroid_forces(_hernquist(a), q, R, 0.0)
    _, dz = spheroid_forces(_hernquist(a), q, R, 1.1)
    np.testing.assert_allclose(dR, -pot.Rforce(R, zeros), rtol=1e-6)
    np.testing.assert_allclose(dz, -pot.zforce(R, zeros + 1.1), rtol=1e-6)
    np.testing.assert_allclose(spheroid_potential_plane(_hernquist(a), q, R), pot(R, zeros), rtol=1e-6)
    assert np.all(dz0 == 0.0)
    assert spheroid_mass(_hernquist(a), q) == pytest.approx(0.5 * q, rel=1e-7)  # Hernquist: M = amp / 2
    with pytest.raises(ValueError, match="axis ratio"):
        spheroid_mass(_hernquist(a), 1.5)


def test_gas_disk_mass_closed_form():
    disk = GasDisk(53.1, 7.0, 4.0, 0.085)
    numeric = 2 * np.pi * 53.1e6 * quad(lambda R: R * np.exp(-4.0 / R - R / 7.0), 0, np.inf, epsrel=1e-12)[0]
    assert disk.mass_msun == pytest.approx(numeric, rel=1e-10)
    vertical = quad(lambda z: disk.density(8.0, z), -5, 5, epsrel=1e-12)[0]
    assert vertical == pytest.approx(53.1e6 * np.exp(-4.0 / 8.0 - 8.0 / 7.0), rel=1e-9)


@pytest.mark.parametrize("kind, z_d", [("thin", 0.3), ("thick", 0.9)])
def test_disk_tables_match_exact_galpy_disks(mcmillan, kind, z_d):
    """Off-grid scale lengths, R = 4-25 kpc: vc² and Phi to 1e-5, K_z(1.1 kpc) to 1e-4."""
    sigma0 = 500.0
    R = np.linspace(4.0, 25.0, 15)
    for rd in (0.77, 2.63, 5.9):
        params = {**MCMILLAN_BEST, f"sigma0_{kind}_msun_pc2": sigma0, f"rd_{kind}_kpc": rd}
        disk = mcmillan.components(params)[f"{kind}_disk"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exact = DoubleExponentialDiskPotential(amp=G * sigma0 * 1e6 / (2 * z_d), hr=rd, hz=z_d)
            ref_dR = np.array([-exact.Rforce(r, 0.0) for r in R])
            ref_kz = np.array([-exact.zforce(r, 1.1) for r in R])
            ref_phi = exact(R, 0.0 * R)
        np.testing.assert_allclose(disk.dphi_dR(R, 0.0), ref_dR, rtol=1e-5)
        np.testing.assert_allclose(disk.potential(R, 0.0), ref_phi, rtol=1e-5)
        np.testing.assert_allclose(disk.dphi_dz(R, 1.1), ref_kz, rtol=1e-4)
        np.testing.assert_allclose(disk.dphi_dz(R, -1.1), -ref_kz, rtol=1e-4)


def test_mcmillan_model_matches_galpy_mcmillan17(mcmillan, galpy_mcmillan17):
    """Differences come from galpy's SCF expansion of the disks (measured: vc 3e-4, K_z 1.8e-3)."""
    comps = mcmillan.components(MCMILLAN_BEST)
    assert set(comps) == {"bulge", "thin_disk", "thick_disk", "gas"}
    parts = list(comps.values())
    np.testing.assert_allclose(circular_speed(parts, R_FIT), galpy_mcmillan17["vc"], rtol=5e-4)
    np.testing.assert_allclose(dphi_dz(parts, R_FIT, 1.1), galpy_mcmillan17["kz"], rtol=3e-3)
    np.testing.assert_allclose(potential(parts, R_FIT, 0.0), galpy_mcmillan17["phi"], rtol=1e-3)
    vc2 = vc2_components(comps, R_FIT)
    np.testing.assert_allclose(np.sqrt(vc2["bulge"]), galpy_mcmillan17["vc_bulge"], rtol=5e-4)
    total_mass = sum(float(c.mass_msun) for c in parts)
    assert 5e10 < total_mass < 7e10  # McMillan (2017): 5.4e10 stars + 1.2e10 gas


def test_parameters_scale_components_and_broadcast_over_walkers(mcmillan):
    W = 4
    rng = np.random.default_rng(7)
    params = {name: value * rng.uniform(0.8, 1.2, (W, 1)) for name, value in MCMILLAN_BEST.items()}
    comps = mcmillan.components(params)
    vc2 = vc2_components(comps, R_FIT)
    assert vc2["thin_disk"].shape == (W, R_FIT.size)
    for w in range(W):
        single = vc2_components(mcmillan.components({k: float(v[w, 0]) for k, v in params.items()}), R_FIT)
        for name in comps:
            np.testing.assert_allclose(vc2[name][w], single[name], rtol=1e-12)
    doubled = {
        **MCMILLAN_BEST,
        "sigma0_thin_msun_pc2": 2 * MCMILLAN_BEST["sigma0_thin_msun_pc2"],
        "rho0_bulge_msun_pc3": 2 * 98.4,
    }
    base, twice = (
        vc2_components(mcmillan.components(MCMILLAN_BEST), R_FIT),
        vc2_components(mcmillan.components(doubled), R_FIT),
    )
    np.testing.assert_allclose(twice["thin_disk"], 2 * base["thin_disk"], rtol=1e-12)
    np.testing.assert_allclose(twice["bulge"], 2 * base["bulge"], rtol=1e-12)
    np.testing.assert_allclose(twice["gas"], base["gas"], rtol=1e-12)
    assert np.all(base["gas"][R_FIT < 5] < base["gas"][R_FIT > 10].max())  # central holes


def test_mcmillan_bad_inputs_raise_clear_errors(mcmillan):
    comps = mcmillan.components(MCMILLAN_BEST)
    with pytest.raises(ValueError, match="missing"):
        mcmillan.components({"rd_thin_kpc": 2.5})
    with pytest.raises(ValueError, match="sigma0_thick_msun_pc2"):
        mcmillan.components({**MCMILLAN_BEST, "sigma0_thick_msun_pc2": -1.0})
    with pytest.raises(ValueError, match="R_d outside the tabulated range"):
        mcmillan.components({**MCMILLAN_BEST, "rd_thin_kpc": 12.0})["thin_disk"].dphi_dR(R_FIT, 0.0)
    with pytest.raises(ValueError, match="only at"):
        comps["gas"].dphi_dz(R_FIT, 0.5)
    with pytest.raises(ValueError, match="plane"):
        comps["bulge"].potential(R_FIT, 1.0)
    with pytest.raises(ValueError, match="below the tabulated range"):
        comps["bulge"].dphi_dR(np.array([0.01]), 0.0)
    with pytest.raises(ValueError, match="lacks the key"):
        McMillanBaryons.from_config({"bulge": {}})
    assert np.all(comps["thin_disk"].dphi_dz(R_FIT, 0.0) == 0.0)


def test_build_baryons_errors():
    fixed = load_params()["halo_mass"]["model"]["baryons"]
    assert isinstance(build_baryons("fixed", fixed, {}), FixedBaryons)
    with pytest.raises(ValueError, match="unknown baryon model 'cold_gas'"):
        build_baryons("cold_gas", fixed, {})
    with pytest.raises(ValueError, match=r"baryon_models.mcmillan17.model"):
        build_baryons("mcmillan17", fixed, {"mcmillan17": {"priors": {}}})


def _mass_in_sphere(density, r):
    """Mass inside the sphere r of an axisymmetric density symmetric about the plane (scipy quad)."""

    def shell(z):
        a = np.sqrt(max(r**2 - z**2, 0.0))
        return quad(lambda R: 2 * np.pi * R * density(R, z), 0.0, a, limit=200, points=[min(a, 4.0)])[0]

    return 2.0 * quad(shell, 0.0, r, limit=200, points=[min(r, 0.05), min(r, 0.5), min(r, 2.0)])[0]


@pytest.mark.parametrize("r", [0.3, 3.0, 12.0])
def test_monopole_of_each_component_holds_its_mass_inside_the_sphere(mcmillan, r):
    """r² dPhi0/dr / G against the density integrated over the sphere; Phi0 integrates its force."""
    parts = mcmillan.components({k: np.array([[v]]) for k, v in MCMILLAN_BEST.items()})
    rd, z_thin = MCMILLAN_BEST["rd_thin_kpc"], mcmillan.thin_z_d_kpc
    sigma = MCMILLAN_BEST["sigma0_thin_msun_pc2"] * 1e6
    densities = {
        "thin_disk": lambda R, z: sigma / (2 * z_thin) * np.exp(-R / rd - abs(z) / z_thin),
        "gas": lambda R, z: sum(d.density(R, z) for d in mcmillan.gas),
        "bulge": lambda R, z: (
            MCMILLAN_BEST["rho0_bulge_msun_pc3"] * 1e9 * mcmillan.bulge.density(np.hypot(R, z / mcmillan.bulge.q))
        ),
    }
    for name, density in densities.items():
        phi, dphi = parts[name].monopole(np.array([r]))
        total = float(np.ravel(parts[name].mass_msun)[0])
        assert r**2 * dphi[0, 0] / G == pytest.approx(_mass_in_sphere(density, r), rel=2e-4, abs=1e-8 * total), name
        step = 1e-3
        around = parts[name].monopole(np.array([r * (1 - step), r * (1 + step)]))[0][0]
        force_scale = G * total / r**2  # the component's force as a point mass
        slope = (around[1] - around[0]) / (2 * step * r)
        assert slope == pytest.approx(dphi[0, 0], rel=1e-4, abs=1e-6 * force_scale), name


def test_monopole_below_the_table_is_a_uniform_core_for_any_scale_length(mcmillan):
    """Radii inside the first tabulated radius (which scales with each walker's R_d) hold Phi0
    and let the force fall linearly, without tripping the table's range check."""
    rd = np.array([[0.7], [2.53], [3.3], [7.9]])
    params = {k: np.full((4, 1), v) for k, v in MCMILLAN_BEST.items()} | {"rd_thin_kpc": rd, "rd_thick_kpc": rd}
    disk = mcmillan.components(params)["thin_disk"]
    first = disk.table.radius[0] * rd[:, 0]
    r = np.geomspace(1e-4, 1.0, 41)
    phi, dphi = disk.monopole(r)
    assert phi.shape == (4, 41) and np.all(np.isfinite(phi)) and np.all(dphi >= 0)
    inside = r[None, :] < first[:, None]
    np.testing.assert_allclose(np.where(inside, phi, 0), np.where(inside, phi[:, :1], 0), rtol=1e-9)


def test_tables_are_cached_on_disk_per_code_version(tmp_path, monkeypatch):
    grid = TableGrid(R_min_kpc=1.0, R_max_kpc=50.0, n_R=21, rd_min_kpc=2.0, rd_max_kpc=4.0, n_rd=4)
    shape = BulgeShape()
    monkeypatch.setenv(baryon_tables.CACHE_ENV, str(tmp_path))
    baryon_tables.bulge_table.cache_clear()
    first, mass = baryon_tables.bulge_table(shape, grid)
    directory = baryon_tables.table_cache_dir()
    assert directory.parent == tmp_path / "baryon_tables" and any(directory.rglob("output.pkl"))
    baryon_tables.bulge_table.cache_clear()
    again, mass_again = baryon_tables.bulge_table(shape, grid)  # read back from disk
    np.testing.assert_array_equal(again.vc2, first.vc2)
    assert mass_again == mass
    monkeypatch.setenv(baryon_tables.CACHE_ENV, "off")
    baryon_tables.bulge_table.cache_clear()
    assert baryon_tables.table_cache_dir() is None and baryon_tables.bulge_table(shape, grid)[1] == mass
    baryon_tables.bulge_table.cache_clear()
