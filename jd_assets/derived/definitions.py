"""What keeps the derived layers built: the automation sensor and the by-hand rebuild job."""

import dagster as dg

from jd_assets.derived.automation import derived_tables_automation_sensor
from jd_assets.derived.jobs import derived_tables_job

defs = dg.Definitions(jobs=[derived_tables_job], sensors=[derived_tables_automation_sensor])
