"""The one ``Definitions`` of jd_assets: each layer's own definitions, merged, the resources, and the
executor.

Every run executes its steps in one process (``in_process_executor``), the automation's rebuilds
included (they run the implicit asset job, which takes the Definitions' executor). Dagster's default starts
one process per step: for the ~30 short steps of a derived rebuild (each a DuckDB statement behind one
file lock, so steps never ran in parallel anyway) that cost 11x the work itself (``bench/executor.py``:
395 s against 31 s on a loaded 2-core machine).
"""

import dagster as dg

from jd_assets.clean.definitions import defs as clean_defs
from jd_assets.derived.definitions import defs as derived_defs
from jd_assets.marts.definitions import defs as marts_defs
from jd_assets.publish.definitions import defs as publish_defs
from jd_assets.raw.definitions import defs as raw_defs
from jd_assets.reports.definitions import defs as reports_defs
from jd_assets.resources import build_resources

defs = dg.Definitions.merge(
    raw_defs,
    clean_defs,
    marts_defs,
    publish_defs,
    reports_defs,
    derived_defs,
    dg.Definitions(resources=build_resources(), executor=dg.in_process_executor),
)
