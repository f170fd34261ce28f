# shellcheck shell=bash
# Shared by scripts/start-postgres, scripts/start-replica and scripts/pitr-drill
# (sourced, not run). The caller defines die() before sourcing this file.
#
#   pg_find_bindir BIN...   the newest /usr/lib/postgresql/*/bin holding every BIN
#                           (or $PG_BINDIR, or the dir of pg_ctl on PATH)
#   pg_set_server_user      server_user="postgres" when run as root, else ""
#   as_server_user CMD...   run CMD as $server_user (initdb and postgres refuse root)

pg_find_bindir() {
    if [[ -n "${PG_BINDIR:-}" ]]; then
        echo "$PG_BINDIR"; return
    fi
    local newest="" candidate binary complete
    # Highest installed major version wins (Debian keeps one dir per major).
    while IFS= read -r candidate; do
        complete=yes
        for binary in "$@"; do
            [[ -x "$candidate/$binary" ]] || complete=no
        done
        [[ "$complete" == yes ]] && newest="$candidate"
    done < <(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V)
    if [[ -z "$newest" ]] && command -v pg_ctl >/dev/null 2>&1; then
        newest="$(dirname "$(readlink -f "$(command -v pg_ctl)")")"
    fi
    [[ -n "$newest" ]] || die "no PostgreSQL server binaries found (Debian: apt-get install postgresql)"
    echo "$newest"
}

pg_set_server_user() {
    server_user=""
    if [[ "$(id -u)" -eq 0 ]]; then
        server_user="postgres"
        id "$server_user" >/dev/null 2>&1 || die "running as root but there is no '$server_user' user"
    fi
}

as_server_user() {
    if [[ -n "$server_user" ]]; then
        runuser -u "$server_user" -- "$@"
    else
        "$@"
    fi
}
