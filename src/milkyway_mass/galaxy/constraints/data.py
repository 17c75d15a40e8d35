"""The published rotation-curve and K_z constraints (METHOD.md §6) as validated tables.

The data catalog reads the files in place from configurable paths (they are not
copied into the project); the functions here validate and convert the loaded tables.

- Eilers et al. (2019) circular-velocity curve (``rotation_curve_from_table``):
  header ``R v_c err+ err-``, tab-separated with a trailing tab. The order of the
  two error columns is ambiguous (see the data folder's SOURCE.md), so it is an
  explicit choice, ``error_columns``:

  - ``"mean"`` (default): symmetric error = mean of columns 3 and 4;
  - ``"plus_minus"``: column 3 = upper error, column 4 = lower (the file header);
  - ``"minus_plus"``: column 3 = lower error, column 4 = upper (the paper's Table 1
    order as transcribed elsewhere).

- Bovy & Rix (2013) vertical force K_z(R, |z| = 1.1 kpc) (``kz_from_table``):
  no header, 8 comma-separated columns; column 6 is K_z / (2 pi G) in Msun/pc²,
  column 7 its error. Converted with KZ_2PIG_MSUN_PC2_IN_KMS2_KPC, i.e.
  2 pi G × 1 Msun/pc² = 27.02 (km/s)²/kpc (astropy's G); the native values are kept.

Both return tidy DataFrames whose column names carry the units (see
ROTATION_CURVE_COLUMNS and KZ_COLUMNS), for the published files and the mock's
copies in the same layout alike: ``rotation_curve_from_table`` takes the columns
``R v_c err+ err-``, ``kz_from_table`` 8 unnamed columns 0 ... 7 (loaded with
``header=None``).
"""

from __future__ import annotations

import pandas as pd

from milkyway_mass.galaxy.units import KZ_2PIG_MSUN_PC2_IN_KMS2_KPC
from milkyway_mass.input_schemas import check_columns, constraint_table_schema

#: Height of the Bovy & Rix (2013) K_z measurements [kpc].
BOVY_RIX_HEIGHT_KPC = 1.1

ERROR_COLUMN_CHOICES = ("mean", "plus_minus", "minus_plus")

ROTATION_CURVE_COLUMNS = {
    "R_kpc": "Galactocentric cylindrical radius [kpc]",
    "vc_kms": "circular speed [km/s]",
    "vc_err_up_kms": "upper 1-sigma error [km/s] (per ``error_columns``)",
    "vc_err_down_kms": "lower 1-sigma error [km/s] (per ``error_columns``)",
    "vc_err_kms": "symmetric error = mean of up and down [km/s]",
    "err_col3_kms": "raw third file column [km/s]",
    "err_col4_kms": "raw fourth file column [km/s]",
}

KZ_COLUMNS = {
    "feh": "[Fe/H] of the mono-abundance population [dex]",
    "afe": "[alpha/Fe] of the mono-abundance population [dex]",
    "R_kpc": "Galactocentric radius of the measurement [kpc]",
    "z_kpc": "height of the measurement, 1.1 kpc",
    "sigma_msun_pc2": "column 3, probably Sigma(R, |z| <= 1.1 kpc) [Msun/pc²] (unverified)",
    "sigma_err_msun_pc2": "column 4, its error [Msun/pc²] (unverified)",
    "R0_minus_R_kpc": "column 5, 8 kpc - R [kpc]",
    "kz_2piG_msun_pc2": "K_z / (2 pi G) [Msun/pc²] (column 6, native unit)",
    "kz_err_2piG_msun_pc2": "its error [Msun/pc²] (column 7)",
    "kz_kms2_kpc": "K_z [(km/s)²/kpc]",
    "kz_err_kms2_kpc": "its error [(km/s)²/kpc]",
}

_EILERS_HEADER = ["R", "v_c", "err+", "err-"]
_KZ_RAW = [
    "feh",
    "afe",
    "R_kpc",
    "sigma_msun_pc2",
    "sigma_err_msun_pc2",
    "R0_minus_R_kpc",
    "kz_2piG_msun_pc2",
    "kz_err_2piG_msun_pc2",
]
_KZ_SCHEMA = constraint_table_schema(_KZ_RAW, positive=["R_kpc", "kz_2piG_msun_pc2", "kz_err_2piG_msun_pc2"])


def rotation_curve_from_table(raw: pd.DataFrame, error_columns: str = "mean", source="rotation curve") -> pd.DataFrame:
    """Validated rotation curve (ROTATION_CURVE_COLUMNS) from a table with the Eilers et al.
    (2019) columns ``R v_c err+ err-`` [kpc, km/s]; ``source`` names it in error messages.

    ``error_columns`` resolves the ambiguous order of the two error columns
    ("mean", "plus_minus" or "minus_plus"; see the module docstring).
    """
    if error_columns not in ERROR_COLUMN_CHOICES:
        raise ValueError(f"error_columns must be one of {ERROR_COLUMN_CHOICES}, got {error_columns!r}")
    if [str(c) for c in raw.columns] != _EILERS_HEADER:
        raise ValueError(
            f"{source}: expected the columns {_EILERS_HEADER}, found {[str(c) for c in raw.columns]} "
            "(a whitespace-separated file must be loaded with sep='\\s+')"
        )
    raw = check_columns(raw, constraint_table_schema(_EILERS_HEADER, positive=_EILERS_HEADER), source)
    raw = raw.set_axis(["R_kpc", "vc_kms", "err_col3_kms", "err_col4_kms"], axis=1)
    col3, col4 = raw["err_col3_kms"], raw["err_col4_kms"]
    if error_columns == "mean":
        up = down = 0.5 * (col3 + col4)
    elif error_columns == "plus_minus":
        up, down = col3, col4
    else:
        up, down = col4, col3
    out = raw[["R_kpc", "vc_kms"]].assign(
        vc_err_up_kms=up, vc_err_down_kms=down, vc_err_kms=0.5 * (up + down), err_col3_kms=col3, err_col4_kms=col4
    )
    return out[list(ROTATION_CURVE_COLUMNS)].sort_values("R_kpc", ignore_index=True)


def kz_from_table(raw: pd.DataFrame, source="K_z table") -> pd.DataFrame:
    """Validated K_z(R, |z| = 1.1 kpc) (KZ_COLUMNS, sorted by R) from a table in the
    Bovy & Rix (2013) layout: 8 unnamed columns 0 ... 7 (no header line); ``source``
    names it in error messages."""
    if raw.shape[1] != len(_KZ_RAW):
        raise ValueError(
            f"{source}: expected {len(_KZ_RAW)} comma-separated columns without header "
            f"({', '.join(_KZ_RAW)}), found {raw.shape[1]}"
        )
    if list(raw.columns) != list(range(len(_KZ_RAW))):
        raise ValueError(
            f"{source}: expected unnamed columns 0 ... {len(_KZ_RAW) - 1} (the file has no header line; "
            f"load it with header=None), found {list(raw.columns)}"
        )
    raw = check_columns(raw.set_axis(_KZ_RAW, axis=1), _KZ_SCHEMA, source)
    out = raw.assign(
        z_kpc=BOVY_RIX_HEIGHT_KPC,
        kz_kms2_kpc=raw["kz_2piG_msun_pc2"] * KZ_2PIG_MSUN_PC2_IN_KMS2_KPC,
        kz_err_kms2_kpc=raw["kz_err_2piG_msun_pc2"] * KZ_2PIG_MSUN_PC2_IN_KMS2_KPC,
    )
    return out[list(KZ_COLUMNS)].sort_values("R_kpc", kind="stable", ignore_index=True)
