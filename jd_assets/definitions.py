"""The one ``Definitions`` of jd_assets: assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from jd_assets.raw import assets as raw_assets
from jd_assets.raw import checks as raw_checks
from jd_assets.raw import schedules as raw_schedules
from jd_assets.raw import sensors as raw_sensors
from jd_assets.resources import build_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([raw_assets]),
    asset_checks=raw_checks.drift_checks,
    jobs=[
        raw_schedules.raw_orders_job,
        raw_schedules.raw_comments_job,
        raw_schedules.raw_item_details_job,
        raw_schedules.raw_wares_job,
    ],
    schedules=[
        raw_schedules.orders_daily_schedule,
        raw_schedules.comments_daily_schedule,
        raw_schedules.details_weekly_schedule,
        raw_schedules.wares_weekly_schedule,
    ],
    sensors=[
        raw_sensors.tracked_items_sensor,
        raw_sensors.order_skus_sensor,
        raw_sensors.ware_links_sensor,
    ],
    resources=build_resources(),
)
