"""A job that rebuilds every clean and mart table (with their checks) in dependency order, then publishes
them to the analysts' read-only copy (group ``published``).

Automation normally does this by itself (see ``jd_assets/derived/automation.py``); the job is for the demo,
which runs without the daemon, and for a by-hand rebuild from the UI or the CLI.
"""

from __future__ import annotations

import dagster as dg

derived_tables_job = dg.define_asset_job(
    "derived_tables_job",
    selection=dg.AssetSelection.groups("clean", "marts", "published", "reports"),
    # one process for every step, as the automation's runs (jd_assets/definitions.py says why)
    executor_def=dg.in_process_executor,
    description=(
        "Rebuild every clean and mart table from raw, with their asset checks, then publish them to the "
        "analysts' read-only copy, and draw the review report."
    ),
)
