"""The one ``Definitions`` of jd_assets: each layer's own definitions, merged, the resources, and the
executor.

Every run executes its steps in one process (``in_process_executor``), the automation's rebuilds
included (they run the implicit asset job, which takes the Definitions' executor). Dagster's default starts
one process per step: for the ~30 short steps of a derived rebuild (each a DuckDB statement behind one
file lock, so steps never ran in parallel anyway) that cost 11x the work itself (``bench/executor.py``:
395 s against 31 s on a loaded 2-core machine).
"""

import dagster as dg

# The layers' modules, not their ``defs``: Dagster refuses a module (``dagster dev -m`` / workspace.yaml)
# that holds more than one Definitions object at its top level.
from jd_assets import lake_maintenance
from jd_assets.clean import definitions as clean
from jd_assets.derived import definitions as derived
from jd_assets.marts import definitions as marts
from jd_assets.publish import definitions as publish
from jd_assets.raw import definitions as raw
from jd_assets.reports import definitions as reports
from jd_assets.resources import build_resources

defs = dg.Definitions.merge(
    raw.defs,
    clean.defs,
    marts.defs,
    publish.defs,
    reports.defs,
    derived.defs,
    lake_maintenance.defs,
    dg.Definitions(resources=build_resources(), executor=dg.in_process_executor),
)
