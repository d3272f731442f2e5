"""The reports' definitions: the review report, rebuilt by the automation after the marts."""

import dagster as dg

from jd_assets.annotate import annotate
from jd_assets.reports import REPORT_ASSETS

defs = dg.Definitions(assets=annotate(REPORT_ASSETS))
