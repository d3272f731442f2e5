"""The clean layer's definitions: its tables and their checks."""

import dagster as dg

from jd_assets.clean import CLEAN_ASSETS
from jd_assets.clean.checks import CLEAN_CHECKS

defs = dg.Definitions(assets=CLEAN_ASSETS, asset_checks=CLEAN_CHECKS)
