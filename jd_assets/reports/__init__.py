"""The review report (group ``reports``): charts of the marts as PNG files and one offline HTML page."""

from jd_assets.reports.report import review_report

REPORT_ASSETS = [review_report]
