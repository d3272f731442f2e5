"""The raw layer's definitions: the gateway-backed assets, their checks, jobs, schedules and sensors."""

import dagster as dg

from jd_assets.annotate import annotate
from jd_assets.raw import assets, checks, schedules, sensors

defs = dg.Definitions(
    assets=annotate(dg.load_assets_from_modules([assets])),
    asset_checks=checks.raw_checks,
    jobs=[
        schedules.raw_orders_job,
        schedules.raw_comments_job,
        schedules.raw_comments_refresh_job,
        schedules.raw_item_details_job,
        schedules.raw_wares_job,
    ],
    schedules=[
        schedules.orders_daily_schedule,
        schedules.comments_daily_schedule,
        schedules.details_weekly_schedule,
        schedules.wares_weekly_schedule,
    ],
    sensors=[sensors.tracked_items_sensor, sensors.order_skus_sensor, sensors.ware_links_sensor],
)
