"""The one ``Definitions`` of jd_assets: assets, checks, jobs, schedules, sensors and resources."""

import dagster as dg

from jd_assets.clean import CLEAN_ASSETS
from jd_assets.clean.automation import derived_tables_automation_sensor
from jd_assets.clean.checks import CLEAN_CHECKS
from jd_assets.marts import MART_ASSETS
from jd_assets.marts.checks import MARTS_CHECKS
from jd_assets.marts.jobs import derived_tables_job
from jd_assets.raw import assets as raw_assets
from jd_assets.raw import checks as raw_checks
from jd_assets.raw import schedules as raw_schedules
from jd_assets.raw import sensors as raw_sensors
from jd_assets.resources import build_resources

defs = dg.Definitions(
    assets=[*dg.load_assets_from_modules([raw_assets]), *CLEAN_ASSETS, *MART_ASSETS],
    asset_checks=[*raw_checks.drift_checks, *CLEAN_CHECKS, *MARTS_CHECKS],
    jobs=[
        raw_schedules.raw_orders_job,
        raw_schedules.raw_comments_job,
        raw_schedules.raw_comments_refresh_job,
        raw_schedules.raw_item_details_job,
        raw_schedules.raw_wares_job,
        derived_tables_job,
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
        derived_tables_automation_sensor,
    ],
    resources=build_resources(),
)
