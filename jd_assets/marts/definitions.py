"""The marts' definitions: the product-review tables and their checks."""

import dagster as dg

from jd_assets.marts import MART_ASSETS
from jd_assets.marts.checks import MARTS_CHECKS

defs = dg.Definitions(assets=MART_ASSETS, asset_checks=MARTS_CHECKS)
