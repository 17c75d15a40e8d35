"""The globular-cluster catalogue (Vasiliev & Baumgardt 2021 mean parameters) and its selection.

Columns (``COLUMNS``): ``Name``; ``ra``, ``dec`` [deg]; ``dist``, ``disterr`` [kpc];
``vlos``, ``vloserr`` [km/s, heliocentric]; ``sigma`` [km/s, central dispersion];
``rmax`` [arcmin]; ``pmra`` (mu_alpha cos delta), ``pmdec``, ``pmra_e``, ``pmdec_e``
[mas/yr]; ``pmcorr`` (correlation of the proper-motion errors); ``plx``, ``plx_e`` [mas].

``select_clusters`` keeps the clusters the dynamical fit uses: it removes the six
clusters of the Sagittarius dwarf (``SAGITTARIUS``), which are not in equilibrium with
the Galaxy, and clusters without a line-of-sight velocity, and counts both.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pandera.pandas as pa

from milkyway_mass.input_schemas import NUMERIC, check_columns, constraint_table_schema

__all__ = ["COLUMNS", "SAGITTARIUS", "read_table", "select_clusters", "validate_catalogue"]

COLUMNS = (
    "Name",
    "ra",
    "dec",
    "dist",
    "disterr",
    "vlos",
    "vloserr",
    "sigma",
    "rmax",
    "pmra",
    "pmdec",
    "plx",
    "pmra_e",
    "pmdec_e",
    "pmcorr",
    "plx_e",
)

#: Clusters of the Sagittarius dwarf galaxy, as named in the catalogue (a catalogue name
#: is the cluster's name, optionally followed by ``_`` and an alias, e.g. NGC_6715_M_54).
SAGITTARIUS = ("NGC_6715", "Terzan_7", "Terzan_8", "Arp_2", "Pal_12", "Whiting_1")

#: Columns that every selected cluster needs finite, and those that must also be positive.
_REQUIRED = ("ra", "dec", "dist", "vlos", "vloserr", "pmra", "pmdec", "pmra_e", "pmdec_e", "pmcorr")
_POSITIVE = ("dist", "vloserr", "pmra_e", "pmdec_e")

_CATALOGUE_SCHEMA = pa.DataFrameSchema(
    {"Name": pa.Column(str, unique=True)} | {c: pa.Column(checks=NUMERIC, nullable=True) for c in COLUMNS[1:]},
    strict=False,
)
_SELECTED_SCHEMA = constraint_table_schema(_REQUIRED, positive=_POSITIVE, correlations=["pmcorr"])


def read_table(path) -> pd.DataFrame:
    """The catalogue file as the catalog entries ``gc_vasiliev_baumgardt2021`` and
    ``gc_catalogue_data`` load it (whitespace separated, one header line, ``nan`` for missing),
    for scripts outside Kedro."""
    return pd.read_csv(path, sep=r"\s+", skiprows=1, header=None, names=list(COLUMNS))


def _is_sagittarius(names: pd.Series) -> pd.Series:
    return names.map(lambda n: any(n == s or n.startswith(s + "_") for s in SAGITTARIUS))


def validate_catalogue(table: pd.DataFrame, source: str = "globular-cluster catalogue") -> None:
    """Stop with :class:`InputSchemaError` naming ``source``, the column and an example value if a
    column is missing or not numeric, or a name is repeated."""
    check_columns(table, _CATALOGUE_SCHEMA, source)


def select_clusters(
    table: pd.DataFrame, source: str = "globular-cluster catalogue"
) -> tuple[pd.DataFrame, dict[str, int]]:
    """(the clusters the fit uses, cut flow): removes the Sagittarius clusters and clusters
    without a line-of-sight velocity; any other missing or invalid value in a required
    column stops with an error naming the cluster and column."""
    validate_catalogue(table, source)
    names = table["Name"].astype(str).str.strip()
    sagittarius = _is_sagittarius(names)
    no_vlos = ~sagittarius & ~np.isfinite(table["vlos"].to_numpy(dtype=float))
    kept = table[~sagittarius & ~no_vlos].assign(Name=names[~sagittarius & ~no_vlos]).reset_index(drop=True)
    check_columns(kept.set_index("Name"), _SELECTED_SCHEMA, source, row="cluster")
    flow = {
        "input": len(table),
        "sagittarius": int(sagittarius.sum()),
        "no_line_of_sight_velocity": int(no_vlos.sum()),
        "kept": len(kept),
    }
    return kept, flow
