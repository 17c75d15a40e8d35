"""Column contracts between pipelines.

Units: distances in kpc, velocities in km/s, proper motions in mas/yr, angles in
degrees (``phi_gc`` in radians). Convention: prograde (disk-like) orbits have
``v_phi < 0`` (astropy's Galactocentric frame, phi = atan2(y, x)).
"""

#: ``stars_6d`` (ingest output): one row per star of the tracer (``ingest.tracer``, K giants by default) with
#: full 6D information; optional columns the survey lacks are NaN (ids: the row number, pm correlation: 0).
STARS_6D_COLUMNS = {
    "obsid": "LAMOST observation id (int64)",
    "source_id": "Gaia DR3 source_id of the matched counterpart (int64)",
    "ra": "right ascension, ICRS [deg] (LAMOST position)",
    "dec": "declination, ICRS [deg] (LAMOST position)",
    "dist": "Bayesian heliocentric distance [kpc]",
    "dist_err": "distance uncertainty [kpc]",
    "rv": "heliocentric line-of-sight velocity [km/s]",
    "rv_err": "line-of-sight velocity uncertainty [km/s]",
    "pmra": "proper motion mu_alpha* = mu_alpha cos(dec) [mas/yr]",
    "pmdec": "proper motion mu_delta [mas/yr]",
    "pmra_error": "[mas/yr]",
    "pmdec_error": "[mas/yr]",
    "pmra_pmdec_corr": "correlation coefficient of the pmra and pmdec errors",
    "parallax": "[mas] (not used for distances)",
    "parallax_error": "[mas]",
    "ruwe": "Gaia renormalised unit weight error",
    "feh": "[Fe/H] [dex]",
    "teff": "effective temperature [K]",
    "logg": "surface gravity log10(g / cm s^-2)",
}

#: Columns that ``kinematics`` adds to ``stars_6d`` to make ``stars_galactocentric``.
GALACTOCENTRIC_COLUMNS = {
    "x_gc": "Galactocentric X [kpc], towards the Galactic centre from the Sun",
    "y_gc": "Galactocentric Y [kpc], along Galactic rotation at the Sun",
    "z_gc": "Galactocentric Z [kpc], towards the north Galactic pole",
    "R_gc": "cylindrical radius [kpc]",
    "phi_gc": "azimuth atan2(Y, X) [rad]",
    "r_gc": "spherical radius [kpc]",
    "v_R": "cylindrical radial velocity [km/s]",
    "v_phi": "azimuthal velocity [km/s]; prograde < 0",
    "v_z": "vertical velocity [km/s]",
    "v_gc": "total Galactocentric speed [km/s]",
    "sigma_d_frac": "fractional distance uncertainty dist_err / dist",
    "sigma_v_R": "Monte Carlo uncertainty of v_R [km/s]",
    "sigma_v_phi": "Monte Carlo uncertainty of v_phi [km/s]",
    "sigma_v_z": "Monte Carlo uncertainty of v_z [km/s]",
    "sigma_v_gc": "Monte Carlo uncertainty of v_gc [km/s]",
}

#: The cut-flow table: every pipeline that removes stars appends rows.
CUT_FLOW_COLUMNS = {
    "pipeline": "pipeline that applied the cut",
    "cut": "what the cut keeps (or the reason stars were removed)",
    "binning": "'all' before binning, else 'bin1' / 'bin2'",
    "n_stars": "stars remaining after the cut",
    "n_removed": "stars removed by the cut",
    "note": "breakdown of removals by reason, or other remarks",
}


#: The two radial binnings of ``selection`` (METHOD.md §3), in the order of every per-binning
#: input and output (``selected_stars_<binning>``, ``vesc_table_<binning>``, ...).
BINNINGS = ("bin1", "bin2")

#: ``radial_bins`` (selection → escape_velocity, calibration): one row per bin and binning.
RADIAL_BIN_COLUMNS = {
    "binning": "'bin1' or 'bin2'",
    "bin": "bin number within the binning (1, 2, ...)",
    "r_lo": "inner edge [kpc]",
    "r_hi": "outer edge [kpc]",
    "v_min": "lower speed threshold of the high-velocity sample [km/s]",
    "r0": "pivot radius of the bin's v_esc, the median r of its stars [kpc]",
    "n_stars": "selected stars in the bin",
}

#: The escape-velocity curve as it passes from the tail fit to the halo fit: one name for
#: v_esc and its 68 % interval from ``vesc_table_<binning>`` (escape_velocity) through
#: ``vesc_table_calibrated_<binning>`` (calibration) to the curve table of the halo fit.
VESC_CURVE_COLUMNS = {
    "bin": "bin number",
    "r0": "radius at which v_esc is measured [kpc]",
    "status": "'ok' if the bin was fitted, else why not",
    "vesc_median": "posterior median of v_esc(r0) [km/s]",
    "vesc_err_minus": "median minus the 16th percentile [km/s]",
    "vesc_err_plus": "84th percentile minus the median [km/s]",
}

#: ``vesc_samples_<binning>`` (escape_velocity → halo_mass): posterior samples of v_esc per bin.
VESC_SAMPLE_COLUMNS = {
    "bin": "bin number",
    "r0": "radius of the bin's v_esc [kpc]",
    "v_esc": "one posterior sample of v_esc(r0) [km/s]",
}

#: A published v_esc curve as shipped (``published_vesc_bin1``, Wu et al. 2025 Table A1).
PUBLISHED_VESC_COLUMNS = {
    "r_gc_kpc": "radius [kpc]",
    "vesc_kms": "v_esc [km/s]",
    "err_plus_kms": "upper 68 % error [km/s]",
    "err_minus_kms": "lower 68 % error [km/s]",
}


def require_columns(df, columns, name: str) -> None:
    """Raise ``ValueError`` naming ``name`` and the missing columns if ``df`` lacks any of ``columns``."""
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"{name} lacks column(s) {missing}; has {list(df.columns)}")
