"""The one ``Definitions`` of jd_assets: each layer's own definitions, merged, and the resources."""

import dagster as dg

from jd_assets.clean.definitions import defs as clean_defs
from jd_assets.derived.definitions import defs as derived_defs
from jd_assets.marts.definitions import defs as marts_defs
from jd_assets.publish.definitions import defs as publish_defs
from jd_assets.raw.definitions import defs as raw_defs
from jd_assets.reports.definitions import defs as reports_defs
from jd_assets.resources import build_resources

defs = dg.Definitions.merge(
    raw_defs,
    clean_defs,
    marts_defs,
    publish_defs,
    reports_defs,
    derived_defs,
    dg.Definitions(resources=build_resources()),
)
