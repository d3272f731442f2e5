"""The clean layer's definitions: its tables and their checks."""

import dagster as dg

from jd_assets.clean import CLEAN_ASSETS
from jd_assets.clean.checks import CLEAN_CHECKS
from jd_assets.clean.review_signals import review_signals_checks

#: Every check of the clean tables (review signals' checks sit beside that table).
CHECKS = [*CLEAN_CHECKS, *review_signals_checks]

defs = dg.Definitions(assets=CLEAN_ASSETS, asset_checks=CHECKS)
