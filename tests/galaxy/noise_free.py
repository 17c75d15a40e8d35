"""Noise-free constraint data of a known galaxy, and posteriors on it, for the fitting tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

from milkyway_mass.galaxy.constraints.terms import (
    CONSTRAINTS,
    ConstraintData,
    make_terms,
)
from milkyway_mass.galaxy.constraints.vesc_curve import split_normal_curve
from milkyway_mass.galaxy.fitting import Posterior
from milkyway_mass.galaxy.model import MassModel, build_prior
from milkyway_mass.galaxy.potentials.composite import dphi_dz

R0 = 8.122
#: The constraints that noise-free data cover (all but the globular clusters).
POTENTIAL_CONSTRAINTS = tuple(c for c in CONSTRAINTS if c != "globular_clusters")
TRUTH_NFW = np.array([np.log10(9e11), 12.0])
R_RC = np.linspace(5.3, 24.8, 20)
R_KZ = np.linspace(4.6, 8.5, 12)
R_VESC = np.array([5.0, 7.0, 9.0, 11.0, 13.0, 15.0, 18.0, 22.0, 26.0, 30.0, 35.0, 43.0])
NFW_BOX = {"log10_M200": [11.0, 12.5], "c200": [1.0, 30.0]}
OPTIMIZER = {"maxfev": 2000, "xatol": 1e-5, "fatol": 1e-5, "adaptive": True, "restarts": 1}
SAMPLER = {"n_walkers": 12, "n_steps": 80, "burn_fraction": 0.5, "init_scale": 1e-3, "progress": False, "store_thin": 2}


def noise_free_data(model: MassModel, theta) -> ConstraintData:
    """Noise-free data of ``model`` at ``theta``: v_esc curve (split normal, 3 %), rotation
    curve (2 km/s), K_z at 1.1 kpc (8 %), vc(R0) +- 10 km/s."""
    galaxy = model.build(np.atleast_2d(theta))
    vesc = galaxy.escape_speed(R_VESC, 0.0, 2.0)[0]
    curve = split_normal_curve(list(range(1, len(R_VESC) + 1)), R_VESC, vesc, 0.03 * vesc, 0.03 * vesc)
    vc = galaxy.circular_speed(R_RC)[0]
    rc = pd.DataFrame({"R_kpc": R_RC, "vc_kms": vc, "vc_err_up_kms": 2.0, "vc_err_down_kms": 2.0})
    kz = np.broadcast_to(dphi_dz(galaxy.components, R_KZ, 1.1), (1, R_KZ.size))[0]
    kz_table = pd.DataFrame({"R_kpc": R_KZ, "z_kpc": 1.1, "kz_kms2_kpc": kz, "kz_err_kms2_kpc": 0.08 * kz})
    vc_R0 = float(galaxy.circular_speed(np.array([R0]))[0, 0])
    return ConstraintData(curve, R0, vc_R0, 10.0, rc, kz_table)


def posterior_for(
    model: MassModel, box, data: ConstraintData, constraints=POTENTIAL_CONSTRAINTS, baryon_priors=None
) -> Posterior:
    """Flat box prior on the halo (Gaussian baryon priors if given) and the named terms."""
    prior = build_prior(model.halo_family, box, model.baryons.parameter_names, baryon_priors or {})
    return Posterior(model, prior, make_terms(constraints, data, boundary_r200=2.0))
