"""How the derived tables keep up with raw: one declarative automation condition for clean and marts.

``dg.AutomationCondition.eager()`` almost fits, but it waits while *any* upstream partition is missing,
and the raw assets are partitioned (one partition per SKU, ware or day): a SKU that was just added, or a
day that was never fetched, would hold every clean table back. The derived tables read the whole raw
table, so they only need to know that something upstream changed:

- build when the table is missing, or when any upstream (any partition of it) was updated, or will be
  in this same tick (so clean and marts go in one run, raw → clean → marts);
- not while an upstream run or backfill is still in progress (a 30-partition backfill gives one rebuild
  at the end, not 30);
- not while an upstream asset's *blocking* check has failed: a clean table that failed a correctness
  check does not flow into the marts (inside one run the blocking check already stops them; this also
  stops a later tick from picking the bad table up). An asset's checks run with it (the sensor's runs
  include them), so when a clean table's checks passed last time its marts go in the same run; when
  they have not passed yet, the marts follow on the next tick, once they have.

``derived_tables_automation_sensor`` (below; it starts running, unlike Dagster's default automation
sensor, which starts switched off) evaluates it every 30 s, so a scheduled or UI-launched raw
materialization is followed by the clean and mart rebuilds without any hand work.
"""

from __future__ import annotations

import dagster as dg

AC = dg.AutomationCondition

FOLLOW_UPSTREAM = (
    (AC.newly_missing() | AC.any_deps_updated()).since_last_handled()
    & ~AC.any_deps_in_progress()
    & ~AC.in_progress()
    & AC.all_deps_blocking_checks_passed()
).with_label("follow upstream (eager, without waiting for missing upstream partitions)")

#: Evaluates FOLLOW_UPSTREAM for the clean and mart tables and the published copy that follows them.
#: Dagster's own default automation sensor starts switched off; this one starts running, so the derived
#: tables follow raw without a toggle in the UI.
derived_tables_automation_sensor = dg.AutomationConditionSensorDefinition(
    "derived_tables_automation_sensor",
    target=dg.AssetSelection.groups("clean", "marts", "published", "reports"),
    default_status=dg.DefaultSensorStatus.RUNNING,
    minimum_interval_seconds=30,
    description=(
        "Rebuilds the clean and mart tables after raw changes, then publishes them to the analysts' "
        "read-only copy and redraws the review report (their automation condition)."
    ),
)
