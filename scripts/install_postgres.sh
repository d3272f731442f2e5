#!/usr/bin/env bash
set -euo pipefail
# Called by make test and make demo-lake (target postgres).
# The DuckLake tests start a throwaway PostgreSQL (jd_sandbox/postgres.py): Debian's postgresql package,
# installed when its initdb/pg_ctl are neither on PATH nor under /usr/lib/postgresql/*/bin. Its install
# must not start the package's own cluster (no init system in a CI container: invoke-rc.d would start it
# on port 5432): a policy-rc.d that refuses service starts is put in place for the install (when none is
# there) and removed after, also when the install fails.
have_postgres() {
    { command -v initdb && command -v pg_ctl; } >/dev/null 2>&1 && return 0
    compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null && compgen -G '/usr/lib/postgresql/*/bin/pg_ctl' >/dev/null
}
if ! have_postgres; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "scripts/install_postgres.sh: PostgreSQL is missing and installing it needs root: apt-get install -y postgresql" >&2
        exit 1
    fi
    policy=/usr/sbin/policy-rc.d
    added_policy=
    if [ ! -e "$policy" ]; then
        trap 'rm -f "$policy"' EXIT
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod +x "$policy"
        added_policy=1
    fi
    # A fresh image has no package lists: update first.
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql >/dev/null
    if [ -n "$added_policy" ]; then
        rm -f "$policy"
        trap - EXIT
    fi
    if ! have_postgres; then
        echo "scripts/install_postgres.sh: postgresql was installed but initdb/pg_ctl are still not found" >&2
        exit 1
    fi
fi

