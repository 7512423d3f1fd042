#!/usr/bin/env bash
# Run a command against a throwaway Postgres:
#   scripts/with-postgres.sh make test
# A fresh cluster in a temp dir on a free local port (never 5432), with DATABASE_URL set for
# the command; its superuser may create the test databases. Stopped and deleted afterwards,
# however the command ends. Needs Debian's postgresql package (initdb, pg_ctl); as root, the
# server runs as the postgres user, because Postgres refuses to run as root.
set -euo pipefail
bindir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
if [ -z "$bindir" ] || [ ! -x "$bindir/initdb" ]; then
  echo "Postgres is not installed: apt-get install postgresql (make test-postgres does)." >&2
  exit 1
fi
as_pg=()
if [ "$(id -u)" -eq 0 ]; then as_pg=(runuser -u postgres --); fi

dir=$(mktemp -d "${TMPDIR:-/tmp}/upscaler-pg.XXXXXX")
[ ${#as_pg[@]} -eq 0 ] || chown postgres: "$dir"
stop() {
  "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap stop EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
password=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
echo "$password" >"$dir/password"
chmod 644 "$dir/password"
"${as_pg[@]}" "$bindir/initdb" -D "$dir/data" -U upscaler --pwfile="$dir/password" \
  --auth-local=trust --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync >"$dir/initdb.log" \
  || { cat "$dir/initdb.log" >&2; exit 1; }
# Durability is pointless for a throwaway test database; speed is not.
if ! "${as_pg[@]}" "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
  -o "-h 127.0.0.1 -p $port -k $dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
  start >/dev/null; then
  cat "$dir/server.log" >&2
  exit 1
fi
"${as_pg[@]}" "$bindir/createdb" -h "$dir" -p "$port" -U upscaler upscaler
echo "Postgres $("$bindir/postgres" --version | awk '{print $3}') on 127.0.0.1:$port (temp dir $dir)"
export DATABASE_URL="postgres://upscaler:$password@127.0.0.1:$port/upscaler"
"$@"
