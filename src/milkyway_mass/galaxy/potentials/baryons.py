"""Baryon models: closed-form components and the two models the halo fits use.

- ``Plummer`` and ``MiyamotoNagai``: closed-form components (METHOD.md §5).
- ``FixedBaryons``: named closed-form components without free parameters (§5).
- ``McMillanBaryons``: a McMillan (2017)-type model with free bulge density and
  stellar-disk parameters (§6), from the unit tables of ``baryon_tables``. At
  McMillan's best fit it reproduces galpy's ``McMillan17`` (disk + bulge) over
  R = 4-25 kpc to 3e-4 in vc, 1.8e-3 in K_z(1.1 kpc) and 5e-4 in Phi; these
  differences are the truncation of galpy's SCF expansion of the stellar disks
  (its DiskSCF disks differ from the exact double-exponential disks by as much).

Units: lengths in kpc, masses in Msun, potentials in (km/s)², forces in
(km/s)² / kpc. Components follow ``composite``'s protocol (``potential``,
``dphi_dR``, ``dphi_dz`` at (R, z)).

Interface of a model: ``parameter_names`` and ``components(params)``, where
``params`` maps each name to an array (shape (W, 1) for W walkers) and the
result maps component names to components; radii of shape (N,) then give arrays
of shape (W, N). ``build_baryons`` makes a model from the parameters.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from milkyway_mass.galaxy.potentials.baryon_tables import (
    BulgeShape,
    GasDisk,
    ScfSettings,
    TableGrid,
    TabulatedComponent,
    UnitTable,
    bulge_table,
    exponential_disk_table,
    gas_table,
)
from milkyway_mass.galaxy.units import MSUN_PC2, MSUN_PC3, G

__all__ = [
    "BARYON_MODELS",
    "COMPONENT_TYPES",
    "FixedBaryons",
    "McMillanBaryons",
    "MiyamotoNagai",
    "Plummer",
    "build_baryons",
]


# --- closed-form components -------------------------------------------------------


@dataclass(frozen=True)
class Plummer:
    """Plummer sphere, Phi = -G M / sqrt(r² + b²)."""

    mass_msun: Any
    b_kpc: Any

    def potential(self, R, z):
        return -G * self.mass_msun / np.sqrt(R**2 + z**2 + self.b_kpc**2)

    def _force_factor(self, R, z):
        return G * self.mass_msun / (R**2 + z**2 + self.b_kpc**2) ** 1.5

    def dphi_dR(self, R, z):
        return self._force_factor(R, z) * R

    def dphi_dz(self, R, z):
        return self._force_factor(R, z) * z

    def monopole(self, r):
        """(Phi(r), dPhi/dr) [(km/s)², (km/s)² / kpc]: a sphere is its own monopole."""
        return self.potential(r, 0.0), self.dphi_dR(r, 0.0)

    def enclosed_mass(self, r):
        """Mass inside the sphere of radius r [kpc] (analytic) [Msun]."""
        return self.mass_msun * r**3 / (r**2 + self.b_kpc**2) ** 1.5


@dataclass(frozen=True)
class MiyamotoNagai:
    """Miyamoto–Nagai disk, Phi = -G M / sqrt(R² + (a + sqrt(z² + b²))²)."""

    mass_msun: Any
    a_kpc: Any
    b_kpc: Any

    def _terms(self, R, z):
        s = np.sqrt(z**2 + self.b_kpc**2)
        d = np.sqrt(R**2 + (self.a_kpc + s) ** 2)
        return s, d

    def potential(self, R, z):
        return -G * self.mass_msun / self._terms(R, z)[1]

    def dphi_dR(self, R, z):
        _, d = self._terms(R, z)
        return G * self.mass_msun * R / d**3

    def dphi_dz(self, R, z):
        s, d = self._terms(R, z)
        return G * self.mass_msun * z * (self.a_kpc + s) / (s * d**3)


#: Closed-form component types by name (``type`` in a fixed-baryon configuration).
COMPONENT_TYPES: dict[str, type] = {"plummer": Plummer, "miyamoto_nagai": MiyamotoNagai}


# --- fixed model (METHOD.md §5) --------------------------------------------------


@dataclass(frozen=True)
class FixedBaryons:
    """Baryons without free parameters: named closed-form components
    (Plummer bulge, Miyamoto–Nagai disks)."""

    fixed: Mapping[str, Any]
    parameter_names: tuple[str, ...] = ()

    @classmethod
    def from_config(cls, config: Mapping[str, Mapping[str, Any]]) -> FixedBaryons:
        """From ``{name: {type: plummer|miyamoto_nagai, <fields>}}`` (``halo_mass.model.baryons``)."""
        components = {}
        for name, entry in config.items():
            spec = dict(entry)
            kind = spec.pop("type", None)
            if kind not in COMPONENT_TYPES:
                raise ValueError(
                    f"baryon component {name!r}: unknown type {kind!r}; expected one of {sorted(COMPONENT_TYPES)}"
                )
            try:
                components[name] = COMPONENT_TYPES[kind](**{k: float(v) for k, v in spec.items()})
            except (TypeError, ValueError) as err:
                raise ValueError(f"baryon component {name!r} ({kind}): {err}") from None
        return cls(components)

    def components(self, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The fixed components (``params`` must be empty: the model has none)."""
        if params:
            raise ValueError(f"the fixed baryon model has no free parameters; got {sorted(params)}")
        return dict(self.fixed)


# --- McMillan (2017)-type model ---------------------------------------------------


@dataclass(frozen=True, eq=False)
class McMillanBaryons:
    """Bulge with free central density, thin and thick exponential disks with free
    surface densities and scale lengths (fixed scale heights), fixed H I + H2 disks."""

    bulge: BulgeShape = BulgeShape()
    thin_z_d_kpc: float = 0.3
    thick_z_d_kpc: float = 0.9
    gas: tuple[GasDisk, ...] = (GasDisk(53.1, 7.0, 4.0, 0.085), GasDisk(2180.0, 1.5, 12.0, 0.045))
    scf: ScfSettings = ScfSettings()
    grid: TableGrid = TableGrid()

    parameter_names = (
        "rho0_bulge_msun_pc3",
        "sigma0_thin_msun_pc2",
        "rd_thin_kpc",
        "sigma0_thick_msun_pc2",
        "rd_thick_kpc",
    )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> McMillanBaryons:
        """From a mapping with ``bulge`` (alpha, r0_kpc, rcut_kpc, q), ``thin_z_d_kpc``,
        ``thick_z_d_kpc``, ``gas`` ({name: {sigma0_msun_pc2, rd_kpc, rhole_kpc, z_d_kpc}}),
        ``scf`` (N, L, a_kpc) and ``grid`` (TableGrid fields)."""
        try:
            grid = dict(config["grid"])
            grid["kz_heights_kpc"] = tuple(float(h) for h in grid["kz_heights_kpc"])
            return cls(
                bulge=BulgeShape(**config["bulge"]),
                thin_z_d_kpc=float(config["thin_z_d_kpc"]),
                thick_z_d_kpc=float(config["thick_z_d_kpc"]),
                gas=tuple(GasDisk(**spec) for spec in config["gas"].values()),
                scf=ScfSettings(**config["scf"]),
                grid=TableGrid(**grid),
            )
        except KeyError as err:
            raise ValueError(f"McMillan baryon configuration lacks the key {err}") from None
        except TypeError as err:
            raise ValueError(f"McMillan baryon configuration: {err}") from None

    @cached_property
    def _tables(self) -> dict[str, tuple[UnitTable, float]]:
        """Unit tables (built on first use, cached per process) with their mass scales:
        bulge mass per unit rho0 [kpc³], gas mass [Msun], 1 for the disks."""
        return {
            "bulge": bulge_table(self.bulge, self.grid),
            "thin_disk": (exponential_disk_table(self.thin_z_d_kpc, self.grid), 1.0),
            "thick_disk": (exponential_disk_table(self.thick_z_d_kpc, self.grid), 1.0),
            "gas": gas_table(self.gas, self.scf, self.grid),
        }

    def build_tables(self) -> McMillanBaryons:
        """Build all tables now (otherwise on first use; ~15 s with the default grid)."""
        self._tables  # noqa: B018
        return self

    def components(self, params: Mapping[str, Any]) -> dict[str, TabulatedComponent]:
        """Components for ``params`` (each name in ``parameter_names``; Msun/pc³, Msun/pc², kpc),
        all shaped like the broadcast parameters (the fixed gas too)."""
        missing = [n for n in self.parameter_names if n not in params]
        if missing:
            raise ValueError(f"McMillan baryon parameters missing: {missing} (expected {list(self.parameter_names)})")
        p = {n: np.asarray(params[n], dtype=float) for n in self.parameter_names}
        for name, value in p.items():
            if not np.all(np.isfinite(value) & (value > 0)):
                raise ValueError(
                    f"McMillan baryon parameter {name} must be positive and finite; got {value.ravel()[:5]}"
                )
        walkers = np.ones(np.broadcast_shapes(*(v.shape for v in p.values())))
        (bulge, bulge_mass_per_rho0), (gas, gas_mass) = self._tables["bulge"], self._tables["gas"]

        def disk(kind):
            sigma, rd = p[f"sigma0_{kind}_msun_pc2"] * MSUN_PC2, p[f"rd_{kind}_kpc"]
            return TabulatedComponent(self._tables[f"{kind}_disk"][0], 2.0 * np.pi * sigma * rd**2, rd)

        return {
            "bulge": TabulatedComponent(bulge, p["rho0_bulge_msun_pc3"] * MSUN_PC3 * bulge_mass_per_rho0),
            "thin_disk": disk("thin"),
            "thick_disk": disk("thick"),
            "gas": TabulatedComponent(gas, gas_mass * walkers),
        }


#: Baryon model builders by name (``params:...baryon_model.kind``).
BARYON_MODELS: dict[str, Callable[[Mapping[str, Any]], Any]] = {
    "fixed": FixedBaryons.from_config,
    "mcmillan17": McMillanBaryons.from_config,
}


def build_baryons(kind: str, fixed: Mapping[str, Any], models: Mapping[str, Any]) -> FixedBaryons | McMillanBaryons:
    """Baryon model ``kind``: 'fixed' from ``fixed`` (the §5 components of
    ``halo_mass.model.baryons``), others from ``models[kind]['model']``."""
    if kind not in BARYON_MODELS:
        raise ValueError(f"unknown baryon model {kind!r}; expected one of {sorted(BARYON_MODELS)}")
    if kind == "fixed":
        return BARYON_MODELS[kind](fixed)
    if kind not in models or "model" not in models[kind]:
        raise ValueError(f"baryon model {kind!r} needs settings under baryon_models.{kind}.model")
    return BARYON_MODELS[kind](models[kind]["model"])
