#!/usr/bin/env bash
# Makes the local PostgreSQL test server accept TLS with a certificate for 127.0.0.1 and
# localhost, issued by a throwaway test CA, and prints the test URL that verifies it:
#   postgres://…?sslmode=verify-full&sslrootcert=DIR/ca.pem
# Usage: scripts/pg-tls.sh ADMIN_URL [DIR]   (DIR default /var/tmp/carecert-pg-tls)
# Idempotent: an existing CA and server certificate in DIR are reused; the server's
# ssl_cert_file/ssl_key_file are set with ALTER SYSTEM and the configuration reloaded.
set -euo pipefail
ADMIN_URL="$1"
DIR="${2:-/var/tmp/carecert-pg-tls}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
mkdir -p "$DIR"
if [ ! -s "$DIR/server.pem" ] || ! openssl x509 -checkend 86400 -noout -in "$DIR/server.pem" >/dev/null 2>&1; then
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
    -subj "/CN=carecert test PostgreSQL CA" -keyout "$DIR/ca.key" -out "$DIR/ca.pem" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=127.0.0.1" \
    -keyout "$DIR/server.key" -out "$DIR/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,IP:::1,DNS:localhost\nbasicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=critical,digitalSignature\n' > "$DIR/server.ext"
  openssl x509 -req -in "$DIR/server.csr" -CA "$DIR/ca.pem" -CAkey "$DIR/ca.key" -CAcreateserial \
    -days 30 -extfile "$DIR/server.ext" -out "$DIR/server.pem" 2>/dev/null
fi
# The server reads its key as the postgres user, and refuses a key others can read.
DATA=$(psql "$ADMIN_URL" -qAtc 'show data_directory')
$SUDO install -o postgres -g postgres -m 0644 "$DIR/server.pem" "$DATA/carecert-test-server.pem"
$SUDO install -o postgres -g postgres -m 0600 "$DIR/server.key" "$DATA/carecert-test-server.key"
psql "$ADMIN_URL" -qAt >/dev/null <<SQL
ALTER SYSTEM SET ssl_cert_file = '$DATA/carecert-test-server.pem';
ALTER SYSTEM SET ssl_key_file = '$DATA/carecert-test-server.key';
ALTER SYSTEM SET ssl = on;
SELECT pg_reload_conf();
SQL
base="${ADMIN_URL%%\?*}"
url="$base?sslmode=verify-full&sslrootcert=$DIR/ca.pem"
for _ in $(seq 1 20); do
  psql "$url" -qAtc 'select 1' >/dev/null 2>&1 && break
  sleep 0.5
done
if ! psql "$url" -qAtc 'select ssl from pg_stat_ssl where pid = pg_backend_pid()' | grep -qx t; then
  echo "error: PostgreSQL does not accept verified TLS at $url" >&2
  exit 1
fi
echo "$url"
