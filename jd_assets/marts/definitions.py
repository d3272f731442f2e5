"""The marts' definitions: the product-review tables and their checks."""

import dagster as dg

from jd_assets.marts import MART_ASSETS
from jd_assets.marts.checks import MARTS_CHECKS
from jd_assets.marts.review_insights import REVIEW_INSIGHT_CHECKS

#: Every check of the marts (the review-insight marts' checks sit beside those tables).
CHECKS = [*MARTS_CHECKS, *REVIEW_INSIGHT_CHECKS]

defs = dg.Definitions(assets=MART_ASSETS, asset_checks=CHECKS)
