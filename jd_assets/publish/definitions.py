"""The published copy's definitions: the publish asset and its checks."""

import dagster as dg

from jd_assets.publish import PUBLISH_ASSETS
from jd_assets.publish.checks import PUBLISH_CHECKS

defs = dg.Definitions(assets=PUBLISH_ASSETS, asset_checks=PUBLISH_CHECKS)
