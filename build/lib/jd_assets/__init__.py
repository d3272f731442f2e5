"""jd_assets: JD.com comments, products, wares and orders as Dagster assets in DuckDB."""
