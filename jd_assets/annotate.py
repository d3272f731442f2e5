"""What the UI says about every asset beyond its own definition: owners, tags and links to its SQL.

- owners: the team that answers for the data (``OWNERS``);
- tags: ``domain`` (reviews, catalog, orders, analytics) on every asset, and ``pii`` on the tables that
  hold buyer data (``PII``; clean and marts keep only pseudonyms, checked by ``no_buyer_pii``);
- code references (Dagster's *code references*, shown on the asset page): the function that builds the
  asset and, for a derived table, the line of the SQL statement that creates it. With ``JD_ASSETS_GIT_URL``
  (and ``JD_ASSETS_GIT_BRANCH``, default ``main``) set, they link to the repository instead of local files.
"""

from __future__ import annotations

import inspect
import os
import warnings
from collections.abc import Sequence
from pathlib import Path

import dagster as dg

OWNERS = ["team:jd-data"]
ROOT = Path(__file__).resolve().parent.parent

#: The domain of each table's rows, by the word its asset name carries (first match wins).
DOMAINS = (
    ("review", "reviews"),
    ("comment", "reviews"),
    ("aspect", "reviews"),
    ("report", "reviews"),
    ("order", "orders"),
    ("product", "catalog"),
    ("item_details", "catalog"),
    ("ware", "catalog"),
    ("published", "analytics"),
)
#: Tables that hold buyer data (names, phones, addresses): raw keeps them as JD sent them.
PII = {"raw_orders": "buyer", "raw_order_tracks": "buyer"}
#: How a derived table's SQL starts, so its code reference can point at it.
SQL_STARTS = ("CREATE OR REPLACE TABLE {table} ", "CREATE TABLE IF NOT EXISTS {table} ")


def domain_of(name: str) -> str:
    return next((domain for word, domain in DOMAINS if word in name), "reviews")


def tags_of(key: dg.AssetKey) -> dict[str, str]:
    name = key.to_user_string()
    tags = {"domain": domain_of(name)}
    if name in PII:
        tags["pii"] = PII[name]
    return tags


def sql_reference(source_file: str, table: str) -> dg.LocalFileCodeReference | None:
    """The line of ``source_file`` where the statement that creates ``table`` starts, if it is there."""
    lines = Path(source_file).read_text(encoding="utf-8").splitlines()
    for number, line in enumerate(lines, start=1):
        padded = line.strip().strip('"') + " "
        if any(padded.startswith(start.format(table=table)) for start in SQL_STARTS):
            return dg.LocalFileCodeReference(file_path=source_file, line_number=number, label=f"SQL: {table}")
    return None


def _references(assets_def: dg.AssetsDefinition, spec: dg.AssetSpec) -> list[dg.LocalFileCodeReference]:
    fn = assets_def.op.compute_fn.decorated_fn
    source_file = inspect.getsourcefile(fn)
    if source_file is None:
        return []
    source_file = str(Path(source_file).resolve())
    references = [
        dg.LocalFileCodeReference(
            file_path=source_file, line_number=inspect.getsourcelines(fn)[1], label="asset function"
        )
    ]
    table = spec.metadata.get("dagster/table_name")
    if isinstance(table, str) and not table.startswith("raw."):
        found = sql_reference(source_file, table)
        if found:
            references.insert(0, found)
    return references


def annotate(assets_defs: Sequence[dg.AssetsDefinition]) -> list[dg.AssetsDefinition]:
    """The assets with owners, tags and code references added (their own tags and metadata kept)."""

    def one(assets_def: dg.AssetsDefinition) -> dg.AssetsDefinition:
        if not isinstance(assets_def, dg.AssetsDefinition):
            return assets_def

        def spec_of(spec: dg.AssetSpec) -> dg.AssetSpec:
            references = dg.CodeReferencesMetadataValue(code_references=_references(assets_def, spec))
            return spec.merge_attributes(
                owners=[o for o in OWNERS if o not in spec.owners],
                tags={k: v for k, v in tags_of(spec.key).items() if k not in spec.tags},
                metadata={"dagster/code_references": references},
            )

        return assets_def.map_asset_specs(spec_of)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", dg.BetaWarning)  # code references are beta in Dagster 1.13
        annotated = [one(a) for a in assets_defs]
    git_url = os.environ.get("JD_ASSETS_GIT_URL")
    if git_url:
        warnings.simplefilter("ignore", dg.BetaWarning)
        annotated = list(
            dg.link_code_references_to_git(
                annotated,
                git_url=git_url,
                git_branch=os.environ.get("JD_ASSETS_GIT_BRANCH", "main"),
                file_path_mapping=dg.AnchorBasedFilePathMapping(
                    local_file_anchor=ROOT / "pyproject.toml", file_anchor_path_in_repository="pyproject.toml"
                ),
            )
        )
    return annotated
