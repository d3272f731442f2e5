"""Generic asset-check rules of the derived tables: each a SQL rule over a DuckDB connection.

Every rule is a function of a DuckDB connection that returns an ``AssetCheckResult`` whose metadata says
what was counted and why it failed, so the same rule serves every table (clean and marts) and a test can
run it on a table broken on purpose. Correctness checks are *blocking*: a failure stops the downstream
assets in the same run, and the automation condition keeps later ticks from building on it. A table's own
checks sit beside it (``clean/checks.py``, ``marts/checks.py``) and are made of these rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import dagster as dg
import duckdb

from jd_assets.conventions import BEIJING_TZ
from jd_assets.warehouse import DuckDBWarehouse

#: JD's online retail opened in 2004: an earlier JD time is a parsing or source error.
EARLIEST_PLAUSIBLE = "2004-01-01"
#: How many offending keys a failed check shows.
EXAMPLES = 5

Rule = Callable[[duckdb.DuckDBPyConnection], dg.AssetCheckResult]


def _examples(con: duckdb.DuckDBPyConnection, sql: str) -> str:
    rows = con.execute(f"{sql} LIMIT {EXAMPLES}").fetchall()
    return "; ".join(" / ".join("NULL" if v is None else str(v) for v in row) for row in rows)


def table_exists(con: duckdb.DuckDBPyConnection, qualified: str) -> bool:
    schema, table = qualified.split(".")
    return bool(
        con.execute(
            "SELECT count(*) FROM duckdb_tables() WHERE schema_name = ? AND table_name = ?", [schema, table]
        ).fetchone()[0]
    )


def keys_unique(con: duckdb.DuckDBPyConnection, table: str, keys: Sequence[str]) -> dg.AssetCheckResult:
    """Every row has its key, and no key occurs twice."""
    key_list = ", ".join(keys)
    any_null = " OR ".join(f"{k} IS NULL" for k in keys)
    rows, null_keys = con.execute(
        f"SELECT count(*), count(*) FILTER (WHERE {any_null}) FROM {table}"
    ).fetchone()
    duplicates_sql = f"SELECT {key_list}, count(*) AS n FROM {table} GROUP BY ALL HAVING count(*) > 1"
    (duplicate_keys,) = con.execute(f"SELECT count(*) FROM ({duplicates_sql})").fetchone()
    passed = null_keys == 0 and duplicate_keys == 0
    metadata: dict[str, object] = {
        "key": key_list,
        "rows": rows,
        "rows_with_null_key": null_keys,
        "duplicate_keys": duplicate_keys,
    }
    if duplicate_keys:
        metadata["duplicate_examples"] = _examples(con, f"{duplicates_sql} ORDER BY n DESC, {key_list}")
    return dg.AssetCheckResult(
        passed=passed,
        metadata=metadata,
        description=None
        if passed
        else f"{table}: {null_keys} rows without ({key_list}), {duplicate_keys} repeated keys",
    )


def rows_satisfy(
    con: duckdb.DuckDBPyConnection, table: str, rules: dict[str, str], show: str
) -> dg.AssetCheckResult:
    """Every row satisfies every rule (a SQL condition; NULL counts as a violation). ``show`` names a row."""
    counts = ", ".join(f"count(*) FILTER (WHERE NOT coalesce({cond}, false))" for cond in rules.values())
    violations = dict(zip(rules, con.execute(f"SELECT {counts} FROM {table}").fetchone(), strict=True))
    failing = {name: n for name, n in violations.items() if n}
    metadata: dict[str, object] = {f"violations: {name}": n for name, n in violations.items()}
    for name in failing:
        metadata[f"examples: {name}"] = _examples(
            con, f"SELECT {show} FROM {table} WHERE NOT coalesce({rules[name]}, false) ORDER BY ALL"
        )
    return dg.AssetCheckResult(
        passed=not failing,
        metadata=metadata,
        description=None
        if not failing
        else f"{table}: " + ", ".join(f"{n} rows break '{k}'" for k, n in failing.items()),
    )


def timestamps_plausible(
    con: duckdb.DuckDBPyConnection,
    table: str,
    columns: Sequence[str],
    *,
    fetched: str,
    required: Sequence[str] = (),
    show: str,
) -> dg.AssetCheckResult:
    """JD times fall between 2004 and one day after the row was fetched (a time after its own fetch is a
    parsing error: wrong zone, wrong unit, wrong format). ``required`` columns must not be NULL."""
    upper = f"timezone('{BEIJING_TZ}', {fetched}) + INTERVAL 1 DAY"
    rules = {
        f"{c} in [{EARLIEST_PLAUSIBLE}, fetch + 1 day]": (
            f"{c} IS NULL OR ({c} >= TIMESTAMP '{EARLIEST_PLAUSIBLE}' AND {c} <= {upper})"
        )
        for c in columns
    }
    rules |= {f"{c} not null": f"{c} IS NOT NULL" for c in required}
    return rows_satisfy(con, table, rules, show)


def reconciles(
    con: duckdb.DuckDBPyConnection,
    table: str,
    *,
    expected_sql: str,
    actual_sql: str,
    source: str | None = None,
) -> dg.AssetCheckResult:
    """The table holds exactly the keys its upstream gives (as multisets: a doubled or lost row fails).

    ``source`` names the raw source whose rejects explain what raw did not keep: they are counted by
    reason in the metadata, and each must carry a reason.
    """
    (expected,) = con.execute(f"SELECT count(*) FROM ({expected_sql})").fetchone()
    (actual,) = con.execute(f"SELECT count(*) FROM ({actual_sql})").fetchone()
    missing_sql = f"({expected_sql}) EXCEPT ALL ({actual_sql})"
    extra_sql = f"({actual_sql}) EXCEPT ALL ({expected_sql})"
    (missing,) = con.execute(f"SELECT count(*) FROM ({missing_sql})").fetchone()
    (extra,) = con.execute(f"SELECT count(*) FROM ({extra_sql})").fetchone()
    metadata: dict[str, object] = {
        "expected_rows": expected,
        "rows": actual,
        "missing_in_table": missing,
        "unexpected_in_table": extra,
    }
    if missing:
        metadata["missing_examples"] = _examples(con, f"SELECT * FROM ({missing_sql}) ORDER BY ALL")
    if extra:
        metadata["unexpected_examples"] = _examples(con, f"SELECT * FROM ({extra_sql}) ORDER BY ALL")
    unexplained = 0
    if source:
        rejects = con.execute(
            """SELECT regexp_replace(reason, '[0-9]{3,}', '<id>', 'g') AS reason, count(*) AS n
               FROM raw.rejects WHERE source = ? GROUP BY ALL ORDER BY n DESC, reason LIMIT 10""",
            [source],
        ).fetchall()
        (unexplained,) = con.execute(
            "SELECT count(*) FROM raw.rejects WHERE source = ? AND coalesce(trim(reason), '') = ''", [source]
        ).fetchone()
        metadata["raw_rejects"] = sum(n for _, n in rejects)
        metadata["raw_rejects_by_reason"] = dg.MetadataValue.json({reason: n for reason, n in rejects})
        metadata["raw_rejects_without_reason"] = unexplained
    passed = missing == 0 and extra == 0 and unexplained == 0
    return dg.AssetCheckResult(
        passed=passed,
        metadata=metadata,
        description=None
        if passed
        else f"{table}: {missing} upstream records missing, {extra} unexpected rows, "
        f"{unexplained} rejects without a reason",
    )


def checks_from_rules(
    asset: dg.AssetsDefinition, rules: dict[str, tuple[str, Rule]], *, blocking: bool = True
) -> list[dg.AssetChecksDefinition]:
    """One asset check per named rule, each reading the warehouse under the shared read lock."""

    def build(check_name: str, description: str, rule: Rule) -> dg.AssetChecksDefinition:
        @dg.asset_check(asset=asset, name=check_name, description=description, blocking=blocking)
        def _check(warehouse: DuckDBWarehouse) -> dg.AssetCheckResult:
            with warehouse.read() as con:
                return rule(con)

        return _check

    return [build(name, description, rule) for name, (description, rule) in rules.items()]


def key_rule(table: str, *keys: str) -> tuple[str, Rule]:
    return f"({', '.join(keys)}) is present and unique in {table}.", lambda con: keys_unique(con, table, keys)


def reconcile_rule(table: str, expected_sql: str, actual_sql: str, source: str | None) -> tuple[str, Rule]:
    return (
        f"{table} holds exactly the valid upstream records (raw rejects counted by reason).",
        lambda con: reconciles(con, table, expected_sql=expected_sql, actual_sql=actual_sql, source=source),
    )
