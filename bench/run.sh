#!/usr/bin/env bash
# bench/run.sh: carecert against cfssl 1.2, measured side by side in one run.
# See bench/README.md for what is measured and how. Everything listens on
# 127.0.0.1 only; every load run is bounded by BENCH_SECONDS.
set -euo pipefail
shopt -s inherit_errexit

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$BENCH_DIR/.." && pwd)

# --scale N: also measure carecert on databases seeded with N certificates (SQLite and
# PostgreSQL); BENCH_ONLY=scale runs only that part.
BENCH_SCALE=${BENCH_SCALE:-0}
while (($#)); do
    case $1 in
        --scale) BENCH_SCALE=${2:?--scale needs a number of certificates}; shift 2 ;;
        --scale=*) BENCH_SCALE=${1#--scale=}; shift ;;
        *) echo "usage: bench/run.sh [--scale N]" >&2; exit 2 ;;
    esac
done
BENCH_SCALE_REVOKED=${BENCH_SCALE_REVOKED:-0.01}
BENCH_SCALE_ENGINES=${BENCH_SCALE_ENGINES:-sqlite postgres}
# BENCH_SCALE_SEEDED_SQLITE=DIR: the SQLite scale run uses DIR/data, seeded before with
# `carecert bench seed` (after one start of `carecert serve --dev --data-dir DIR/data`),
# instead of seeding a new one; the empty-database run is measured as usual.
# BENCH_SCALE_SEEDED_PG_DIR=DIR with BENCH_SCALE_SEEDED_PG_URL=URL: the same for PostgreSQL
# (DIR/data is the data directory `serve --dev --database URL` was started with once).
BENCH_SCALE_SEEDED_SQLITE=${BENCH_SCALE_SEEDED_SQLITE:-}
BENCH_SCALE_SEEDED_PG_DIR=${BENCH_SCALE_SEEDED_PG_DIR:-}
BENCH_SCALE_SEEDED_PG_URL=${BENCH_SCALE_SEEDED_PG_URL:-}
BENCH_SECONDS=${BENCH_SECONDS:-10}
# The scale part compares p99s (seeded against empty): 10 s runs put them anywhere between
# 6 and 17 ms on an empty SQLite database here; 20 s runs hold still.
BENCH_SCALE_SECONDS=${BENCH_SCALE_SECONDS:-20}
BENCH_CONNECTIONS=${BENCH_CONNECTIONS:-32}
BENCH_THREADS=${BENCH_THREADS:-2}
BENCH_WRK_TIMEOUT=${BENCH_WRK_TIMEOUT:-10s}
BENCH_CRL_RUNS=${BENCH_CRL_RUNS:-2}
BENCH_OPENSSL_1M=${BENCH_OPENSSL_1M:-1}
BENCH_CRL=${BENCH_CRL:-1}
# BENCH_HSM=1: issuance with the CA key on SoftHSM2 and the token's raw sign rate.
# BENCH_ONLY=hsm runs only that part (plus the report).
BENCH_HSM=${BENCH_HSM:-1}
BENCH_ONLY=${BENCH_ONLY:-}
BENCH_HSM_SIGNATURES=${BENCH_HSM_SIGNATURES:-40000}
SOFTHSM_MODULE=${SOFTHSM_MODULE:-/usr/lib/softhsm/libsofthsm2.so}
BENCH_KEEP=${BENCH_KEEP:-0}
BENCH_REQUIRE_CARECERT=${BENCH_REQUIRE_CARECERT:-0}
BENCH_CFSSL_TLS=${BENCH_CFSSL_TLS:-0}
BENCH_CFSSL_LOGLEVEL=${BENCH_CFSSL_LOGLEVEL:-1}
BENCH_PEER_MAX_ERROR_PCT=${BENCH_PEER_MAX_ERROR_PCT:-1}
BENCH_RESULTS_DIR=${BENCH_RESULTS_DIR:-$BENCH_DIR/results}
CARECERT_BIN=${CARECERT_BIN:-${CARGO_TARGET_DIR:-$(cargo metadata --format-version 1 --no-deps 2>/dev/null | jq -r .target_directory 2>/dev/null || echo "$REPO_ROOT/target")}/release/carecert}
CARECERT_PG_URL=${CARECERT_PG_URL:-postgres://postgres@127.0.0.1:5432/carecert_bench}
CFSSL_BIN=${CFSSL_BIN:-cfssl}

CFSSL_PORT=18888
CFSSL_OCSP_PORT=18889
CC_HTTPS=127.0.0.1:18443
CC_HTTP=127.0.0.1:18080

log() { printf '[bench %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { log "FATAL: $*"; exit 1; }

# A failed measurement is recorded here and makes the whole script exit 1 at
# the end, after the table has been printed.
record_failure() {
    log "FAILURE: $*"
    printf '%s\n' "$*" >> "$WORK/failures"
}

# ---------------------------------------------------------------- preflight --
preflight_tools=(wrk jq sqlite3 openssl curl python3 awk)
[[ $BENCH_ONLY == hsm || $BENCH_ONLY == scale ]] || preflight_tools+=("$CFSSL_BIN")
[[ $BENCH_SCALE =~ ^[0-9]+$ ]] || die "--scale needs a whole number of certificates"
for tool in "${preflight_tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || die "required tool not found: $tool"
done
[[ $BENCH_SECONDS =~ ^[0-9]+$ && $BENCH_SECONDS -gt 0 ]] || die "BENCH_SECONDS must be a positive integer"
[[ $BENCH_SCALE_SECONDS =~ ^[0-9]+$ && $BENCH_SCALE_SECONDS -gt 0 ]] || die "BENCH_SCALE_SECONDS must be a positive integer"
[[ $BENCH_CRL_RUNS =~ ^[0-9]+$ && $BENCH_CRL_RUNS -gt 0 ]] || die "BENCH_CRL_RUNS must be a positive integer"

WORK=$(mktemp -d -t carecert-bench.XXXXXX)
RES=$WORK/results
mkdir -p "$RES"
: > "$WORK/pids"
: > "$WORK/failures"
: > "$WORK/warnings"

# Start time of a process (clock ticks since boot): recorded with each pid so
# that cleanup never signals a recycled pid.
proc_start() {
    local s
    s=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    s=${s##*) }
    local f
    read -r -a f <<<"$s"
    echo "${f[19]}"
}

# record_pid PID : remember a background process for cleanup.
record_pid() {
    printf '%s %s\n' "$1" "$(proc_start "$1" || echo gone)" >> "$WORK/pids"
}

# Signal every background process this script started (recorded pids only,
# and only while the pid still has the recorded start time). Returns 0 if one
# of them was still alive.
kill_recorded() { # [SIGNAL]
    local sig=${1:-TERM} pid start alive=1
    [[ -f $WORK/pids ]] || return 1
    while read -r pid start; do
        [[ -n $pid && $pid != "$BASHPID" ]] || continue
        if [[ $(proc_start "$pid" 2>/dev/null) == "$start" ]] && kill -0 "$pid" 2>/dev/null; then
            kill -"$sig" "$pid" 2>/dev/null || true
            alive=0
        fi
    done < "$WORK/pids" 2>/dev/null
    return "$alive"
}

cleanup() {
    local rc=$? i
    trap - EXIT INT TERM
    if kill_recorded TERM; then
        for ((i = 0; i < 50; i++)); do
            sleep 0.1
            kill_recorded 0 || break
        done
        kill_recorded KILL || true
    fi
    if [[ -f $WORK/pg_created ]]; then
        psql "$(pg_admin_url)" -qAt -c "DROP DATABASE IF EXISTS \"$(pg_db_name)\"" >/dev/null 2>&1 || true
    fi
    if [[ -f $WORK/pg_scale_created ]]; then
        psql "$(pg_admin_url)" -qAt -c "DROP DATABASE IF EXISTS \"$(cat "$WORK/pg_scale_created")\" WITH (FORCE)" >/dev/null 2>&1 || true
    fi
    if [[ $BENCH_KEEP == 1 ]]; then
        log "keeping work directory $WORK"
    else
        rm -rf "$WORK"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

port_free() { ! (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
for hp in "127.0.0.1 $CFSSL_PORT" "127.0.0.1 $CFSSL_OCSP_PORT" "${CC_HTTPS/:/ }" "${CC_HTTP/:/ }"; do
    # shellcheck disable=SC2086
    port_free $hp || die "port ${hp/ /:} is already in use; stop whatever listens there first"
done

# start_bg LOGFILE CMD... : starts CMD in the background, sets BG_PID.
start_bg() {
    local logfile=$1; shift
    "$@" > "$logfile" 2>&1 &
    BG_PID=$!
    record_pid "$BG_PID"
}

# stop_bg PID : TERM, wait up to 10 s, then KILL.
stop_bg() {
    local pid=$1 i
    kill -TERM "$pid" 2>/dev/null || return 0
    for ((i = 0; i < 100; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# wait_until PID LOGFILE SECONDS DESCRIPTION CMD... : polls CMD until it succeeds.
wait_until() {
    local pid=$1 logfile=$2 secs=$3 what=$4; shift 4
    local deadline=$((SECONDS + secs))
    until "$@" >/dev/null 2>&1; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "$what: process exited; last lines of $logfile:"
            tail -n 20 "$logfile" >&2 || true
            return 1
        fi
        if ((SECONDS >= deadline)); then
            log "$what: not ready after ${secs}s; last lines of $logfile:"
            tail -n 20 "$logfile" >&2 || true
            return 1
        fi
        sleep 0.2
    done
}

http_answers() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$1") != 000 ]]; }

skip() { # KEY REASON
    jq -n --arg r "$2" '{skipped: $r}' > "$RES/$1.json"
}

carecert_present() { [[ -x $CARECERT_BIN ]]; }
carecert_missing_msg() { echo "carecert binary not found at $CARECERT_BIN (set CARECERT_BIN)"; }

# run_wrk KEY URL [VAR=value...] : one wrk load run with bench/lib/request.lua.
# Writes $RES/KEY.json; any non-expected status, bad body or socket error is
# reported and recorded as a failure.
run_wrk() {
    local key=$1 url=$2; shift 2
    local out="$WORK/wrk-$key.txt"
    log "$key: wrk -t$BENCH_THREADS -c$BENCH_CONNECTIONS -d${BENCH_SECONDS}s $url"
    # in the background + wait, so that a signal reaches our trap at once
    env "$@" wrk -t"$BENCH_THREADS" -c"$BENCH_CONNECTIONS" -d"${BENCH_SECONDS}s" \
        --timeout "$BENCH_WRK_TIMEOUT" --latency -s "$BENCH_DIR/lib/request.lua" "$url" > "$out" 2>&1 &
    local wpid=$! wrc=0
    record_pid "$wpid"
    wait "$wpid" || wrc=$?
    if ((wrc != 0)); then
        cat "$out" >&2
        log "$key: wrk failed (exit $wrc)"
        return 1
    fi
    if ! grep '^WRKJSON ' "$out" | sed 's/^WRKJSON //' | jq -c '. + {errors: (.bad_responses + .socket_errors)}' > "$RES/$key.json" \
        || [[ ! -s $RES/$key.json ]]; then
        cat "$out" >&2
        log "$key: could not parse wrk output"
        return 1
    fi
    local summary
    summary=$(jq -r '"\(.rps) req/s, p50 \(.p50_ms) ms, p99 \(.p99_ms) ms, \(.requests) requests, errors \(.errors) (bad responses \(.bad_responses), bad bodies \(.bad_bodies), socket \(.socket_errors)), statuses \(.statuses|tostring)"' "$RES/$key.json")
    log "$key: $summary"
    local errors requests what
    errors=$(jq '.errors' "$RES/$key.json")
    requests=$(jq '.requests' "$RES/$key.json")
    if ((errors > 0)); then
        what="$key: $errors errors in $requests requests during the load run (statuses $(jq -c .statuses "$RES/$key.json"), socket $(jq -c .socket_error_detail "$RES/$key.json"))"
        if [[ $key == *.cfssl* ]] && ((errors * 100 <= requests * BENCH_PEER_MAX_ERROR_PCT)); then
            # cfssl 1.2 + SQLite answers a few 400 "database is locked" under
            # 32 concurrent writers: a property of the peer, reported, not fatal.
            log "WARNING (peer): $what"
            printf '%s\n' "$what" >> "$WORK/warnings"
        else
            record_failure "$what"
        fi
    fi
    if [[ $(jq '.ok' "$RES/$key.json") == 0 ]]; then
        record_failure "$key: no successful response at all"
    fi
}

# time_runs RUNS OUTFILE CMD... : runs CMD RUNS times (stdout to OUTFILE),
# prints the wall-clock seconds of each run, space separated.
time_runs() {
    local runs=$1 outfile=$2; shift 2
    local i t0 t1 times=()
    for ((i = 0; i < runs; i++)); do
        t0=$EPOCHREALTIME
        "$@" > "$outfile" || { log "command failed: $*"; return 1; }
        t1=$EPOCHREALTIME
        times+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
    done
    echo "${times[*]}"
}

runs_json() { # "t1 t2 ..." -> {"seconds": min, "runs": [...]}
    printf '%s\n' $1 | jq -s '{seconds: min, runs: .}'
}

# ----------------------------------------------------------------- inputs --
# fsync latency of the work directory's filesystem: SQLite issuance on both
# sides is bound by it, and on this kind of VM it drifts (0.1 ms .. 3+ ms).
fsync_probe() {
    python3 - "$WORK/fsync.probe" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o600)
n = 200
t = time.perf_counter()
for _ in range(n):
    os.write(fd, b"x" * 512)
    os.fsync(fd)
print("%.3f" % ((time.perf_counter() - t) / n * 1000))
os.close(fd)
os.unlink(sys.argv[1])
PY
}
FSYNC_MS_START=$(fsync_probe)
log "work directory: $WORK ($(df -T "$WORK" | awk 'NR == 2 { print $2 }'), fsync ${FSYNC_MS_START} ms)"
log "generating the fixed ECDSA P-256 CSR"
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=bench \
    -keyout "$WORK/bench.key" -out "$WORK/bench.csr" 2>/dev/null

# ======================================================= cfssl: issuance ====
cfssl_issuance() {
    local d=$WORK/cfssl
    mkdir -p "$d"
    cd "$d"
    log "cfssl: creating CA (gencert -initca, ECDSA P-256)"
    "$CFSSL_BIN" gencert -initca "$BENCH_DIR/cfssl/ca-csr.json" 2> initca.log > initca.json
    jq -r .cert initca.json > ca.pem
    jq -r .key initca.json > ca-key.pem
    openssl x509 -in ca.pem -noout -text | grep -q 'NIST CURVE: P-256' || { log "cfssl CA is not P-256"; return 1; }

    log "cfssl: creating the SQLite certdb with bench/cfssl/schema.sql"
    sqlite3 certs.db < "$BENCH_DIR/cfssl/schema.sql"
    jq -n --arg p "$d/certs.db" '{driver: "sqlite3", data_source: $p}' > db-config.json

    local scheme=http tlsargs=() curltls=()
    if [[ $BENCH_CFSSL_TLS == 1 ]]; then
        scheme=https
        echo '{"CN":"127.0.0.1","hosts":["127.0.0.1"],"key":{"algo":"ecdsa","size":256}}' > server-csr.json
        "$CFSSL_BIN" gencert -ca ca.pem -ca-key ca-key.pem -config "$BENCH_DIR/cfssl/config.json" \
            -profile server server-csr.json 2> server.log > server.json
        jq -r .cert server.json > server.pem
        jq -r .key server.json > server-key.pem
        tlsargs=(-tls-cert server.pem -tls-key server-key.pem)
        curltls=(--cacert ca.pem)
    fi
    local base="$scheme://127.0.0.1:$CFSSL_PORT"

    start_bg "$d/serve.log" "$CFSSL_BIN" serve -address 127.0.0.1 -port "$CFSSL_PORT" \
        -ca ca.pem -ca-key ca-key.pem -config "$BENCH_DIR/cfssl/config.json" \
        -db-config db-config.json -loglevel "$BENCH_CFSSL_LOGLEVEL" "${tlsargs[@]}"
    local pid=$BG_PID
    wait_until "$pid" "$d/serve.log" 20 "cfssl serve" \
        curl -s -o /dev/null "${curltls[@]}" "$base/api/v1/cfssl/scaninfo"

    jq -n --rawfile csr "$WORK/bench.csr" '{certificate_request: $csr}' > sign-body.json
    log "cfssl: sanity issuance (POST $base/api/v1/cfssl/sign)"
    local code
    code=$(curl -s "${curltls[@]}" -o sign-resp.json -w '%{http_code}' -H 'Content-Type: application/json' \
        --data-binary @sign-body.json "$base/api/v1/cfssl/sign")
    if [[ $code != 200 || $(jq -r .success sign-resp.json) != true ]]; then
        log "cfssl sign answered HTTP $code: $(head -c 500 sign-resp.json)"
        return 1
    fi
    jq -r .result.certificate sign-resp.json > issued.pem
    openssl x509 -in issued.pem -noout -ext extendedKeyUsage | grep -q 'Client Authentication' \
        || { log "cfssl issued certificate lacks client auth"; return 1; }
    local rows
    rows=$(sqlite3 -cmd '.timeout 10000' certs.db 'SELECT count(*) FROM certificates')
    [[ $rows == 1 ]] || { log "cfssl certdb has $rows rows after one issuance (expected 1)"; return 1; }
    log "cfssl: sanity issuance ok (success true, 1 row in certificates)"

    # OCSP responses for ocspserve, made now while the certdb holds the one
    # certificate above: the CA signs its own OCSP responses.
    log "cfssl: ocsprefresh + ocspdump (CA as OCSP responder)"
    "$CFSSL_BIN" ocsprefresh -db-config db-config.json -ca ca.pem -responder ca.pem \
        -responder-key ca-key.pem -loglevel 2
    "$CFSSL_BIN" ocspdump -db-config db-config.json -loglevel 2 > ocsp-responses.txt
    [[ -s ocsp-responses.txt ]] || { log "cfssl ocspdump produced no responses"; return 1; }
    openssl ocsp -issuer ca.pem -cert issued.pem -no_nonce -reqout ocsp-req.der >/dev/null

    run_wrk issuance.cfssl.sqlite "$base/api/v1/cfssl/sign" \
        BENCH_METHOD=POST BENCH_BODY_FILE="$d/sign-body.json" BENCH_CONTENT_TYPE=application/json \
        BENCH_EXPECT_STATUS=200 'BENCH_CHECK=contains:"success":true'

    stop_bg "$pid"
    rows=$(sqlite3 -cmd '.timeout 10000' certs.db 'SELECT count(*) FROM certificates')
    local ok
    ok=$(jq .ok "$RES/issuance.cfssl.sqlite.json")
    log "cfssl: $rows rows in certificates after the run ($ok successful responses + 1 sanity)"
    jq --argjson n "$rows" '. + {stored_certificates: $n}' "$RES/issuance.cfssl.sqlite.json" > tmp.json \
        && mv tmp.json "$RES/issuance.cfssl.sqlite.json"
    ((rows >= ok + 1)) || record_failure "cfssl: only $rows certificates stored for $ok successful responses"
}

# =========================================================== cfssl: OCSP ====
cfssl_ocsp() {
    local d=$WORK/cfssl
    cd "$d"
    [[ -s ocsp-responses.txt ]] || { log "no cfssl OCSP responses (issuance step failed?)"; return 1; }
    start_bg "$d/ocspserve.log" "$CFSSL_BIN" ocspserve -address 127.0.0.1 -port "$CFSSL_OCSP_PORT" \
        -responses ocsp-responses.txt -loglevel "$BENCH_CFSSL_LOGLEVEL"
    local pid=$BG_PID
    wait_until "$pid" "$d/ocspserve.log" 20 "cfssl ocspserve" http_answers "http://127.0.0.1:$CFSSL_OCSP_PORT/"
    # cfssl 1.2's responder cannot answer RFC 6960 GET requests: it base64-decodes
    # the URL path including its leading "/" and answers 400 (fixed upstream in
    # 2017, cloudflare/cfssl#770). So the peer is measured with POST (same request
    # bytes, same lookup and response); carecert is measured with GET.
    local code
    code=$(curl -s -o ocsp-resp.der -w '%{http_code}' -H 'Content-Type: application/ocsp-request' \
        --data-binary @ocsp-req.der "http://127.0.0.1:$CFSSL_OCSP_PORT/")
    [[ $code == 200 ]] || { log "cfssl ocspserve answered HTTP $code"; return 1; }
    local check
    check=$(openssl ocsp -respin ocsp-resp.der -issuer ca.pem -cert issued.pem -CAfile ca.pem -no_nonce 2>&1) || true
    if ! grep -q 'Response verify OK' <<<"$check" || ! grep -q 'issued.pem: good' <<<"$check"; then
        log "cfssl OCSP response check failed: $check"
        return 1
    fi
    log "cfssl: OCSP sanity ok (successful, verified, good)"
    run_wrk ocsp.cfssl "http://127.0.0.1:$CFSSL_OCSP_PORT/" \
        BENCH_METHOD=POST BENCH_BODY_FILE="$d/ocsp-req.der" BENCH_CONTENT_TYPE=application/ocsp-request \
        BENCH_EXPECT_STATUS=200 BENCH_CHECK=ocsp
    jq '. + {method: "POST"}' "$RES/ocsp.cfssl.json" > tmp.json && mv tmp.json "$RES/ocsp.cfssl.json"
    stop_bg "$pid"
}

# ============================================================== carecert ====
pg_db_name() { local p=${CARECERT_PG_URL##*/}; echo "${p%%\?*}"; }
pg_admin_url() { echo "${CARECERT_PG_URL%/*}/postgres"; }

CC_CURL_TLS=()
cc_curl() { curl -s "${CC_CURL_TLS[@]}" "$@"; }

# carecert_session KIND(sqlite|postgres) : start the server on a fresh data dir
# (and database), measure issuance, and on sqlite also OCSP.
carecert_session() {
    local kind=$1
    local d=$WORK/carecert-$kind
    mkdir -p "$d/data"
    cd "$d"
    local dbargs=()
    if [[ $kind == postgres ]]; then
        command -v psql >/dev/null || { log "psql not found (needed for the PostgreSQL run)"; return 1; }
        local db
        db=$(pg_db_name)
        log "carecert: fresh PostgreSQL database $db"
        PGOPTIONS='-c client_min_messages=warning' psql "$(pg_admin_url)" -v ON_ERROR_STOP=1 -qAt \
            -c "DROP DATABASE IF EXISTS \"$db\"" >/dev/null
        psql "$(pg_admin_url)" -v ON_ERROR_STOP=1 -qAt -c "CREATE DATABASE \"$db\"" >/dev/null
        touch "$WORK/pg_created"
        dbargs=(--database "$CARECERT_PG_URL")
    fi

    start_bg "$d/serve.log" "$CARECERT_BIN" serve --dev --data-dir "$d/data" \
        --listen "$CC_HTTPS" --http-listen "$CC_HTTP" "${dbargs[@]}"
    local pid=$BG_PID
    wait_until "$pid" "$d/serve.log" 60 "carecert serve ($kind)" curl -sf "http://$CC_HTTP/healthz"
    wait_until "$pid" "$d/serve.log" 10 "carecert admin token" test -s "$d/data/admin-token"
    wait_until "$pid" "$d/serve.log" 10 "carecert root CA" test -s "$d/data/ca/root.pem"
    local token
    token=$(tr -d '\r\n' < "$d/data/admin-token")

    jq -n --rawfile csr "$WORK/bench.csr" \
        '{ca: "systems", profile: "system-client", csr: $csr, subject: {common_name: "bench"}}' > issue-body.json
    local url="https://$CC_HTTPS/api/v1/admin/certificates" code rc=0
    CC_CURL_TLS=(--cacert "$d/data/ca/root.pem")
    code=$(cc_curl -o issue-resp.json -w '%{http_code}' -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data-binary @issue-body.json "$url") || rc=$?
    if ((rc == 60 || rc == 51 || rc == 35)); then
        log "carecert: TLS verification against ca/root.pem failed (curl exit $rc); continuing with curl -k (wrk does not verify anyway)"
        CC_CURL_TLS=(-k)
        rc=0
        code=$(cc_curl -o issue-resp.json -w '%{http_code}' -H "Authorization: Bearer $token" \
            -H 'Content-Type: application/json' --data-binary @issue-body.json "$url") || rc=$?
    fi
    if ((rc != 0)) || [[ $code != 201 ]]; then
        log "carecert ($kind) issuance answered HTTP $code (curl exit $rc): $(head -c 500 issue-resp.json 2>/dev/null)"
        return 1
    fi
    jq -er .certificate_pem issue-resp.json > issued.pem || { log "carecert response has no certificate_pem"; return 1; }
    openssl x509 -in issued.pem -noout -subject | grep -q 'CN *= *bench' \
        || { log "carecert issued certificate does not have CN=bench"; return 1; }
    log "carecert ($kind): sanity issuance ok (201, certificate_pem)"

    if [[ $kind == sqlite ]]; then
        carecert_ocsp "$d" || { stop_bg "$pid"; return 1; }
    fi

    run_wrk "issuance.carecert.$kind" "$url" \
        BENCH_METHOD=POST BENCH_BODY_FILE="$d/issue-body.json" BENCH_CONTENT_TYPE=application/json \
        BENCH_AUTH="Bearer $token" BENCH_EXPECT_STATUS=201 BENCH_CHECK=contains:certificate_pem

    stop_bg "$pid"
    carecert_count_stored "$kind" "$d/data" || true
}

# Optional: how many certificates landed in the database (best effort).
carecert_count_stored() {
    local kind=$1 data=$2 n="" f
    if [[ $kind == postgres ]]; then
        n=$(psql "$CARECERT_PG_URL" -qAt -c 'SELECT count(*) FROM certificates' 2>/dev/null) || n=""
    else
        while IFS= read -r f; do
            n=$(sqlite3 -cmd '.timeout 10000' "$f" 'SELECT count(*) FROM certificates' 2>/dev/null) && break || n=""
        done < <(find "$data" -maxdepth 3 -type f \( -name '*.db' -o -name '*.sqlite' -o -name '*.sqlite3' \))
    fi
    if [[ $n =~ ^[0-9]+$ ]]; then
        log "carecert ($kind): $n rows in certificates after the run"
        jq --argjson n "$n" '. + {stored_certificates: $n}' "$RES/issuance.carecert.$kind.json" > "$WORK/tmp.json" \
            && mv "$WORK/tmp.json" "$RES/issuance.carecert.$kind.json"
    else
        log "carecert ($kind): could not count stored certificates (optional, skipped)"
    fi
}

carecert_ocsp() {
    local d=$1
    local issuer=$d/data/ca/systems.pem
    [[ -s $issuer ]] || { log "carecert issuer certificate $issuer not found"; return 1; }
    openssl ocsp -issuer "$issuer" -cert "$d/issued.pem" -no_nonce -reqout "$d/ocsp-req.der" >/dev/null
    local b64 enc url code
    b64=$(base64 -w0 "$d/ocsp-req.der")
    enc=$(jq -rn --arg s "$b64" '$s | @uri')
    url="http://$CC_HTTP/ocsp/$enc"
    code=$(curl -s -o "$d/ocsp-resp.der" -w '%{http_code}' "$url")
    [[ $code == 200 ]] || { log "carecert OCSP GET answered HTTP $code"; return 1; }
    local text
    text=$(openssl ocsp -respin "$d/ocsp-resp.der" -resp_text -noverify 2>&1) || true
    grep -q 'OCSP Response Status: successful' <<<"$text" \
        || { log "carecert OCSP response is not successful: $(head -n 5 <<<"$text")"; return 1; }
    local check
    check=$(openssl ocsp -respin "$d/ocsp-resp.der" -issuer "$issuer" -cert "$d/issued.pem" \
        -CAfile "$d/data/ca/root.pem" -verify_other "$issuer" -no_nonce 2>&1) || true
    grep -q 'issued.pem: good' <<<"$check" \
        || { log "carecert OCSP status is not good: $check"; return 1; }
    if grep -q 'Response verify OK' <<<"$check"; then
        log "carecert: OCSP sanity ok (successful, verified, good)"
    else
        log "WARNING: carecert OCSP response did not verify against ca/root.pem: $check"
    fi
    run_wrk ocsp.carecert "$url" BENCH_METHOD=GET BENCH_EXPECT_STATUS=200 BENCH_CHECK=ocsp
    jq '. + {method: "GET"}' "$RES/ocsp.carecert.json" > "$WORK/tmp.json" && mv "$WORK/tmp.json" "$RES/ocsp.carecert.json"
}

# ============================================================ carecert HSM ====
# The same issuance run as carecert_session sqlite, with the CA keys made on a SoftHSM2
# token (`carecert init --key-store pkcs11:…`), and the token's own P-256 sign rate measured
# just before by `carecert bench hsm-sign` (same threads as the server has cores).
carecert_hsm_session() {
    local d=$WORK/carecert-hsm
    command -v softhsm2-util >/dev/null || { log "softhsm2-util not found (Debian package softhsm2)"; return 1; }
    [[ -e $SOFTHSM_MODULE ]] || { log "SoftHSM2 module $SOFTHSM_MODULE not found"; return 1; }
    mkdir -p "$d/tokens" "$d/data"
    cd "$d"
    printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$d/tokens" > softhsm2.conf
    export SOFTHSM2_CONF=$d/softhsm2.conf
    softhsm2-util --init-token --free --label carecert-bench --so-pin 12345678 --pin 87654321 >/dev/null
    echo 87654321 > hsm-pin
    echo "bench passphrase $$" > passphrase
    local uri="pkcs11:token=carecert-bench?module-path=$SOFTHSM_MODULE&pin-source=file:$d/hsm-pin"
    log "carecert (HSM): token's raw sign rate, $BENCH_HSM_SIGNATURES signatures from $(nproc) threads"
    "$CARECERT_BIN" bench hsm-sign --key-store "$uri" --signatures "$BENCH_HSM_SIGNATURES" \
        --threads "$(nproc)" --json > "$RES/hsm_sign.softhsm2.json" \
        || { log "carecert bench hsm-sign failed"; return 1; }
    log "carecert (HSM): raw $(jq -r '.per_second | floor' "$RES/hsm_sign.softhsm2.json") signatures/s"
    "$CARECERT_BIN" init --data-dir "$d/data" --ca-passphrase-file passphrase --key-store "$uri" \
        --public-url "http://$CC_HTTP" > init.log 2>&1 || { log "carecert init --key-store failed: $(cat init.log)"; return 1; }
    start_bg "$d/serve.log" "$CARECERT_BIN" serve --data-dir "$d/data" --ca-passphrase-file passphrase \
        --key-store "$uri" --listen "$CC_HTTPS" --http-listen "$CC_HTTP"
    local pid=$BG_PID
    wait_until "$pid" "$d/serve.log" 60 "carecert serve (HSM)" curl -sf "http://$CC_HTTP/healthz"
    # `carecert init` leaves a bootstrap token that only makes operator accounts: make the
    # ca-admin the load runs as (its first token written with --token-out).
    "$CARECERT_BIN" admin --server "https://$CC_HTTPS" --data-dir "$d/data" \
        account create bench --role ca-admin --token-out "$d/bench-token" > account.log 2>&1 \
        || { log "carecert admin account create failed: $(cat account.log)"; return 1; }
    local token
    token=$(tr -d '\r\n' < "$d/bench-token")
    jq -n --rawfile csr "$WORK/bench.csr" \
        '{ca: "systems", profile: "system-client", csr: $csr, subject: {common_name: "bench"}}' > issue-body.json
    local url="https://$CC_HTTPS/api/v1/admin/certificates" code
    code=$(curl -s --cacert "$d/data/ca/root.pem" -o issue-resp.json -w '%{http_code}' \
        -H "Authorization: Bearer $token" -H 'Content-Type: application/json' --data-binary @issue-body.json "$url") || true
    if [[ $code != 201 ]]; then
        log "carecert (HSM) issuance answered HTTP $code: $(head -c 500 issue-resp.json 2>/dev/null)"
        stop_bg "$pid"
        return 1
    fi
    jq -er .certificate_pem issue-resp.json > issued.pem
    openssl verify -CAfile "$d/data/ca/root.pem" -untrusted "$d/data/ca/systems.pem" issued.pem >/dev/null \
        || { log "carecert (HSM) issued certificate does not verify"; stop_bg "$pid"; return 1; }
    log "carecert (HSM): sanity issuance ok (201, verifies to the root)"
    run_wrk issuance.carecert.hsm "$url" \
        BENCH_METHOD=POST BENCH_BODY_FILE="$d/issue-body.json" BENCH_CONTENT_TYPE=application/json \
        BENCH_AUTH="Bearer $token" BENCH_EXPECT_STATUS=201 BENCH_CHECK=contains:certificate_pem
    stop_bg "$pid"
}

# ================================================================= scale ====
# carecert_scale KIND N : the same server on a database of N seeded certificates
# (`carecert bench seed`, BENCH_SCALE_REVOKED of them revoked). First, on the empty
# database, issuance and revocation runs give the reference figures; then the seed; then
# start-up time, RSS idle and under load, OCSP, issuance and revocation runs, and the
# queries (`carecert bench queries`: expiry counts, reminders, RA search, CRL per CA).
scale_pid="" scale_t=""
scale_start() { # KIND DIR DBARGS... : starts the server; sets scale_pid and scale_t (seconds to ready)
    local kind=$1 d=$2; shift 2
    local t0=$EPOCHREALTIME
    start_bg "$d/serve-$(date +%s%N).log" "$CARECERT_BIN" serve --dev --data-dir "$d/data" \
        --listen "$CC_HTTPS" --http-listen "$CC_HTTP" "$@"
    scale_pid=$BG_PID
    local deadline=$((SECONDS + 600))
    until curl -sf -o /dev/null --max-time 1 "http://$CC_HTTP/healthz"; do
        kill -0 "$scale_pid" 2>/dev/null || { log "carecert serve ($kind) exited"; return 1; }
        ((SECONDS < deadline)) || { log "carecert serve ($kind) not ready after 600 s"; return 1; }
        sleep 0.02
    done
    scale_t=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.3f", b - a }')
}
rss_kib() { awk '/^'"$2"':/ { print $2 }' "/proc/$1/status"; }

scale_serials() { # KIND DIR LIMIT -> revoke paths file
    local kind=$1 d=$2 limit=$3 sql
    sql="SELECT serial FROM certificates WHERE issuer = 'systems' AND status = 'issued' ORDER BY created_at DESC LIMIT $limit"
    if [[ $kind == postgres ]]; then
        psql "$SCALE_PG_URL" -qAt -c "$sql"
    else
        sqlite3 -cmd '.timeout 10000' "$d/data/carecert.db" "$sql"
    fi | sed 's|^|/api/v1/admin/certificates/|; s|$|/revoke|' > "$d/revoke-paths.txt"
    wc -l < "$d/revoke-paths.txt"
}

scale_revoke_run() { # KEY KIND DIR TOKEN
    local key=$1 kind=$2 d=$3 token=$4 n
    # Enough serials that a run does not use them up (~5k revocations/s on SQLite here).
    n=$(scale_serials "$kind" "$d" $((BENCH_SECONDS * 8000 > 50000 ? BENCH_SECONDS * 8000 : 50000)))
    ((n > 0)) || { log "$key: no issued certificates to revoke"; return 1; }
    echo '{"reason": "superseded", "ca": "systems"}' > "$d/revoke-body.json"
    run_wrk "$key" "https://$CC_HTTPS/api/v1/admin/certificates/x/revoke" \
        BENCH_METHOD=POST BENCH_BODY_FILE="$d/revoke-body.json" BENCH_CONTENT_TYPE=application/json \
        BENCH_AUTH="Bearer $token" BENCH_EXPECT_STATUS=200 BENCH_CHECK=contains:crl_number \
        BENCH_PATHS_FILE="$d/revoke-paths.txt" BENCH_THREADS="$BENCH_THREADS"
    local ok
    ok=$(jq .ok "$RES/$key.json")
    ((ok < n)) || record_failure "$key: $ok revocations used up all $n serials (figures include repeats)"
}

carecert_scale() {
    local kind=$1 n=$2
    local BENCH_SECONDS=$BENCH_SCALE_SECONDS # every load run below (run_wrk) lasts this long
    local d=$WORK/scale-$kind
    mkdir -p "$d/data"
    cd "$d"
    local dbargs=() seedargs=(--data-dir "$d/data")
    if [[ $kind == postgres ]]; then
        SCALE_PG_URL="${CARECERT_PG_URL%/*}/$(pg_db_name)_scale"
        psql "$(pg_admin_url)" -v ON_ERROR_STOP=1 -qAt -c "DROP DATABASE IF EXISTS \"$(pg_db_name)_scale\"" >/dev/null 2>&1
        psql "$(pg_admin_url)" -v ON_ERROR_STOP=1 -qAt -c "CREATE DATABASE \"$(pg_db_name)_scale\"" >/dev/null
        echo "$(pg_db_name)_scale" > "$WORK/pg_scale_created"
        dbargs=(--database "$SCALE_PG_URL")
        seedargs=(--database "$SCALE_PG_URL")
    fi
    local t token url="https://$CC_HTTPS/api/v1/admin/certificates"
    log "scale ($kind): empty database"
    scale_start "$kind" "$d" "${dbargs[@]}"
    wait_until "$scale_pid" /dev/null 10 "carecert admin token" test -s "$d/data/admin-token"
    token=$(tr -d '\r\n' < "$d/data/admin-token")
    jq -n --rawfile csr "$WORK/bench.csr" \
        '{ca: "systems", profile: "system-client", csr: $csr, subject: {common_name: "bench"}}' > issue-body.json
    local issue=(BENCH_METHOD=POST BENCH_BODY_FILE="$d/issue-body.json" BENCH_CONTENT_TYPE=application/json
        BENCH_AUTH="Bearer $token" BENCH_EXPECT_STATUS=201 BENCH_CHECK=contains:certificate_pem)
    run_wrk "scale.$kind.empty.issuance" "$url" "${issue[@]}"
    if [[ $kind == postgres ]]; then
        # The table went from empty to ~70k rows in seconds, before autovacuum's first
        # ANALYZE (it looks once a minute): with no statistics the planner ANDs the status
        # index into the revocation UPDATE and scans every issued row of it per batch
        # (~560 revocations/s, p50 57 ms, against ~2.8k/s analyzed). The seeded database is
        # analyzed after the seed; the reference is measured the same way.
        psql "$SCALE_PG_URL" -qAt -c "ANALYZE certificates" >/dev/null
    fi
    scale_revoke_run "scale.$kind.empty.revocation" "$kind" "$d" "$token"
    stop_bg "$scale_pid"

    local reused=0 seeded_dir=$BENCH_SCALE_SEEDED_SQLITE count_sql
    [[ $kind == postgres ]] && seeded_dir=$BENCH_SCALE_SEEDED_PG_DIR
    count_sql="SELECT (SELECT COALESCE(SUM(issued), 0) FROM certificate_expiry_days) + (SELECT COUNT(*) FROM certificates WHERE status = 'revoked')"
    if [[ -n $seeded_dir ]]; then
        # A database seeded before (10M rows take a quarter of an hour to write): the seeded
        # run uses it in place and leaves it there.
        reused=1
        d=$seeded_dir
        [[ -s $d/data/admin-token ]] || { log "$d: no data/admin-token (start carecert serve --dev on it once)"; return 1; }
        seedargs=(--data-dir "$d/data")
        if [[ $kind == postgres ]]; then
            [[ -n $BENCH_SCALE_SEEDED_PG_URL ]] || { log "BENCH_SCALE_SEEDED_PG_DIR needs BENCH_SCALE_SEEDED_PG_URL"; return 1; }
            SCALE_PG_URL=$BENCH_SCALE_SEEDED_PG_URL
            dbargs=(--database "$SCALE_PG_URL")
            seedargs=(--database "$SCALE_PG_URL")
            n=$(psql "$SCALE_PG_URL" -qAt -c "$count_sql")
        else
            n=$(sqlite3 -cmd '.timeout 10000' "$d/data/carecert.db" "$count_sql")
        fi
        token=$(tr -d '\r\n' < "$d/data/admin-token")
        cp "$WORK/scale-$kind/issue-body.json" "$d/issue-body.json"
        issue=(BENCH_METHOD=POST BENCH_BODY_FILE="$d/issue-body.json" BENCH_CONTENT_TYPE=application/json
            BENCH_AUTH="Bearer $token" BENCH_EXPECT_STATUS=201 BENCH_CHECK=contains:certificate_pem)
        jq -n --argjson n "$n" '{certs: $n, reused: true}' > "$RES/scale.$kind.seed.json"
        log "scale ($kind): using the database seeded before ($d; $n certificates)"
    else
        log "scale ($kind): carecert bench seed --certs $n --revoked-fraction $BENCH_SCALE_REVOKED"
        "$CARECERT_BIN" bench seed "${seedargs[@]}" --certs "$n" --revoked-fraction "$BENCH_SCALE_REVOKED" --json \
            > "$RES/scale.$kind.seed.json" || { log "bench seed failed"; return 1; }
    fi
    log "scale ($kind): seeded: $(cat "$RES/scale.$kind.seed.json")"
    # The seed leaves gigabytes of dirty pages; written back during the load runs they made
    # every fsync slow (revocation p99 400+ ms against 75-145 ms after a sync).
    sync
    local db_bytes
    if [[ $kind == postgres ]]; then
        db_bytes=$(psql "$SCALE_PG_URL" -qAt -c "SELECT pg_database_size(current_database())")
    else
        db_bytes=$(du -cb "$d/data"/carecert.db* | tail -n 1 | cut -f1)
    fi

    scale_start "$kind" "$d" "${dbargs[@]}"
    t=$scale_t
    log "scale ($kind): ready to serve in $t s"
    sleep 3
    local rss_idle rss_peak code
    rss_idle=$(rss_kib "$scale_pid" VmRSS)
    code=$(curl -sk -o issue-resp.json -w '%{http_code}' -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' --data-binary @issue-body.json "$url")
    [[ $code == 201 ]] || { log "scale ($kind): issuance answered $code"; return 1; }
    jq -r .certificate_pem issue-resp.json > issued.pem
    openssl ocsp -issuer "$d/data/ca/systems.pem" -cert issued.pem -no_nonce -reqout ocsp-req.der >/dev/null
    local enc
    enc=$(jq -rn --arg s "$(base64 -w0 ocsp-req.der)" '$s | @uri')
    run_wrk "scale.$kind.ocsp" "http://$CC_HTTP/ocsp/$enc" BENCH_METHOD=GET BENCH_EXPECT_STATUS=200 BENCH_CHECK=ocsp
    run_wrk "scale.$kind.issuance" "$url" "${issue[@]}"
    scale_revoke_run "scale.$kind.revocation" "$kind" "$d" "$token"
    rss_peak=$(rss_kib "$scale_pid" VmHWM)
    stop_bg "$scale_pid"
    "$CARECERT_BIN" bench queries "${seedargs[@]}" --json > "$RES/scale.$kind.queries.json" \
        || { log "bench queries failed"; return 1; }
    jq -n --argjson n "$n" --argjson startup "$t" --argjson idle "$rss_idle" --argjson peak "$rss_peak" \
        --argjson bytes "$db_bytes" \
        '{certificates: $n, startup_seconds: $startup, rss_idle_mib: ($idle / 1024), rss_peak_mib: ($peak / 1024), database_bytes: $bytes}' \
        > "$RES/scale.$kind.server.json"
    log "scale ($kind): $(cat "$RES/scale.$kind.server.json")"
    log "scale ($kind): queries $(jq -c 'with_entries(select(.value.best_ms != null) | .value = .value.best_ms)' "$RES/scale.$kind.queries.json")"
    if [[ $kind == postgres ]]; then
        psql "$(pg_admin_url)" -qAt -c "DROP DATABASE IF EXISTS \"$(pg_db_name)_scale\" WITH (FORCE)" >/dev/null 2>&1 || true
        rm -f "$WORK/pg_scale_created"
    fi
    [[ $BENCH_KEEP == 1 || $reused == 1 ]] || rm -rf "$d/data"
}

# =================================================================== CRL ====
crl_inputs() {
    mkdir -p "$WORK/crl"
    log "CRL: generating 100k and 1M revoked serials"
    python3 "$BENCH_DIR/lib/gen_revoked.py" 100000 "$WORK/crl/r100k"
    python3 "$BENCH_DIR/lib/gen_revoked.py" 1000000 "$WORK/crl/r1m"
}

# check_crl DER_FILE CA_PEM N : signature verifies and it lists N entries.
check_crl() {
    local v n
    v=$(openssl crl -inform "$4" -in "$1" -noout -CAfile "$2" 2>&1) || true
    grep -q 'verify OK' <<<"$v" || { log "CRL $1 does not verify: $v"; return 1; }
    n=$(openssl crl -inform "$4" -in "$1" -noout -text | grep -c 'Serial Number') || true
    [[ $n == "$3" ]] || { log "CRL $1 lists $n entries, expected $3"; return 1; }
}

crl_cfssl() {
    local ca=$WORK/cfssl/ca.pem key=$WORK/cfssl/ca-key.pem tag n times
    [[ -s $ca ]] || { log "no cfssl CA (issuance step failed?)"; return 1; }
    for tag in 100k 1m; do
        [[ $tag == 100k ]] && n=100000 || n=1000000
        log "CRL: cfssl gencrl, $n entries, $BENCH_CRL_RUNS run(s)"
        times=$(time_runs "$BENCH_CRL_RUNS" "$WORK/crl/cfssl-$tag.b64" \
            "$CFSSL_BIN" gencrl "$WORK/crl/r$tag.serials" "$ca" "$key")
        base64 -d "$WORK/crl/cfssl-$tag.b64" > "$WORK/crl/cfssl-$tag.der"
        check_crl "$WORK/crl/cfssl-$tag.der" "$ca" "$n" DER
        runs_json "$times" > "$RES/crl$tag.cfssl.json"
        log "CRL: cfssl $tag: $times s"
    done
}

openssl_gencrl() ( # DIR
    cd "$1"
    openssl ca -config "$BENCH_DIR/cfssl/openssl-ca.cnf" -gencrl -batch -out crl.pem 2>/dev/null
)

crl_openssl() {
    local tag n runs times d
    for tag in 100k 1m; do
        if [[ $tag == 100k ]]; then n=100000; runs=$BENCH_CRL_RUNS; else n=1000000; runs=1; fi
        if [[ $tag == 1m && $BENCH_OPENSSL_1M != 1 ]]; then
            skip crl1m.openssl "BENCH_OPENSSL_1M=0"
            continue
        fi
        d=$WORK/crl/openssl-$tag
        mkdir -p "$d"
        cp "$WORK/cfssl/ca.pem" "$WORK/cfssl/ca-key.pem" "$d/"
        cp "$WORK/crl/r$tag.index.txt" "$d/index.txt"
        echo 1000 > "$d/crlnumber"
        log "CRL: openssl ca -gencrl, $n entries, $runs run(s)"
        times=$(time_runs "$runs" /dev/null openssl_gencrl "$d")
        check_crl "$d/crl.pem" "$d/ca.pem" "$n" PEM
        runs_json "$times" > "$RES/crl$tag.openssl.json"
        log "CRL: openssl $tag: $times s"
    done
}

crl_carecert() {
    local tag n i out t0 t1 secs=() walls=()
    for tag in 100k 1m; do
        [[ $tag == 100k ]] && n=100000 || n=1000000
        secs=() walls=()
        log "CRL: carecert bench crl --entries $n, $BENCH_CRL_RUNS run(s)"
        for ((i = 0; i < BENCH_CRL_RUNS; i++)); do
            t0=$EPOCHREALTIME
            out=$("$CARECERT_BIN" bench crl --entries "$n" --json) \
                || { log "carecert bench crl --entries $n failed"; return 1; }
            t1=$EPOCHREALTIME
            local s
            s=$(jq -er '.seconds | numbers' <<<"$out") \
                || { log "carecert bench crl printed no numeric .seconds: $out"; return 1; }
            secs+=("$s")
            walls+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.3f", b - a }')")
        done
        jq -n --argjson s "$(printf '%s\n' "${secs[@]}" | jq -s .)" \
            --argjson w "$(printf '%s\n' "${walls[@]}" | jq -s .)" --argjson last "$out" \
            '{seconds: ($s | min), runs: $s, process_wall_seconds: $w, last_output: $last}' > "$RES/crl$tag.carecert.json"
        log "CRL: carecert $tag: ${secs[*]} s (process wall ${walls[*]} s)"
    done
}

# ================================================================ sections ===
# Each section runs in a subshell with errexit on; a failing section is
# recorded and the run goes on, so the table still shows everything else.
section() { # NAME FUNCTION [ARGS...]
    local name=$1; shift
    local rc=0
    # The section runs in a background subshell that the main shell waits
    # for, so that Ctrl-C / SIGTERM reach the main shell's trap at once; its
    # pid is recorded so that cleanup stops it along with its servers.
    (
        set -e
        trap 'kill_recorded TERM || true' EXIT
        trap 'exit 143' TERM
        "$@"
    ) &
    local spid=$!
    record_pid "$spid"
    wait "$spid" || rc=$?
    if ((rc == 130 || rc == 143)); then
        exit "$rc"
    fi
    if ((rc != 0)); then
        record_failure "$name failed (exit $rc)"
    fi
}

carecert_section() { # NAME KEY... -- FUNCTION [ARGS...]
    local name=$1; shift
    local keys=()
    while [[ $1 != -- ]]; do keys+=("$1"); shift; done
    shift
    if carecert_present; then
        section "$name" "$@"
    else
        log "$(carecert_missing_msg): skipping $name"
        local k
        for k in "${keys[@]}"; do skip "$k" "$(carecert_missing_msg)"; done
        [[ $BENCH_REQUIRE_CARECERT == 1 ]] && record_failure "$name: $(carecert_missing_msg)"
    fi
    return 0
}

T_START=$SECONDS
if [[ $BENCH_ONLY == scale ]]; then
    log "BENCH_ONLY=scale: only the --scale measurements"
    BENCH_HSM=0
    BENCH_CRL=skip
fi
if [[ $BENCH_ONLY != hsm && $BENCH_ONLY != scale ]]; then
section "cfssl issuance (SQLite)" cfssl_issuance
carecert_section "carecert issuance + OCSP (SQLite)" issuance.carecert.sqlite ocsp.carecert -- carecert_session sqlite
fi
if [[ $BENCH_HSM == 1 || $BENCH_ONLY == hsm ]]; then
    carecert_section "carecert issuance (SQLite, CA key on SoftHSM2)" issuance.carecert.hsm hsm_sign.softhsm2 -- carecert_hsm_session
else
    skip issuance.carecert.hsm "BENCH_HSM=0"
    skip hsm_sign.softhsm2 "BENCH_HSM=0"
fi
if [[ $BENCH_ONLY == hsm ]]; then
    log "BENCH_ONLY=hsm: skipping cfssl, PostgreSQL, OCSP and CRL measurements"
    BENCH_CRL=skip
elif [[ $BENCH_ONLY != scale ]]; then
carecert_section "carecert issuance (PostgreSQL)" issuance.carecert.postgres -- carecert_session postgres
if [[ -f $WORK/pg_created ]]; then
    psql "$(pg_admin_url)" -qAt -c "DROP DATABASE IF EXISTS \"$(pg_db_name)\"" >/dev/null 2>&1 || true
    rm -f "$WORK/pg_created"
fi
section "cfssl OCSP" cfssl_ocsp
fi
if [[ $BENCH_CRL == skip ]]; then
    :
elif [[ $BENCH_CRL == 1 ]]; then
    section "CRL inputs" crl_inputs
    section "cfssl gencrl" crl_cfssl
    section "openssl ca -gencrl" crl_openssl
    carecert_section "carecert CRL" crl100k.carecert crl1m.carecert -- crl_carecert
else
    log "BENCH_CRL=0: skipping the CRL measurements"
    for k in crl100k.cfssl crl1m.cfssl crl100k.openssl crl1m.openssl crl100k.carecert crl1m.carecert; do
        skip "$k" "BENCH_CRL=0"
    done
fi
if ((BENCH_SCALE > 0)); then
    for kind in $BENCH_SCALE_ENGINES; do
        carecert_section "carecert at scale ($kind, $BENCH_SCALE certificates)" "scale.$kind.server" -- \
            carecert_scale "$kind" "$BENCH_SCALE"
    done
fi

# ================================================================= report ===
cd "$WORK"
FSYNC_MS_END=$(fsync_probe)
getv() { # KEY JQ-EXPR -> value or empty
    [[ -f $RES/$1.json ]] || return 0
    jq -r "($2) // empty | tostring" "$RES/$1.json" 2>/dev/null || true
}
fmt() { # PRINTF-FORMAT VALUE -> formatted or n/a
    if [[ -n $2 && $2 != null ]]; then printf "$1" "$2"; else printf 'n/a'; fi
}
ratio() { # A B -> A/B formatted
    if [[ $1 =~ ^[0-9.eE+-]+$ && $2 =~ ^[0-9.eE+-]+$ ]]; then
        awk -v a="$1" -v b="$2" 'BEGIN { if (b == 0) print "n/a"; else printf "%.2fx", a / b }'
    else
        printf 'n/a'
    fi
}
row() { printf '%-36s %-30s %-32s %s\n' "$@"; }

cc_sq_rps=$(getv issuance.carecert.sqlite .ok_rps); cf_rps=$(getv issuance.cfssl.sqlite .ok_rps)
cc_pg_rps=$(getv issuance.carecert.postgres .ok_rps)
cc_sq_p50=$(getv issuance.carecert.sqlite .p50_ms); cc_sq_p99=$(getv issuance.carecert.sqlite .p99_ms)
cc_pg_p50=$(getv issuance.carecert.postgres .p50_ms); cc_pg_p99=$(getv issuance.carecert.postgres .p99_ms)
cf_p50=$(getv issuance.cfssl.sqlite .p50_ms); cf_p99=$(getv issuance.cfssl.sqlite .p99_ms)
errdesc='if .errors == null then null elif .errors == 0 then "0" else "\(.errors) \(.statuses | with_entries(select(.key | test("^2") | not)) | tostring)" end'
cc_sq_err=$(getv issuance.carecert.sqlite "$errdesc"); cc_pg_err=$(getv issuance.carecert.postgres "$errdesc")
cf_err=$(getv issuance.cfssl.sqlite "$errdesc")
cc_ocsp=$(getv ocsp.carecert .ok_rps); cf_ocsp=$(getv ocsp.cfssl .ok_rps)
cc_ocsp_p99=$(getv ocsp.carecert .p99_ms); cf_ocsp_p99=$(getv ocsp.cfssl .p99_ms)
cc_ocsp_err=$(getv ocsp.carecert "$errdesc"); cf_ocsp_err=$(getv ocsp.cfssl "$errdesc")
cc_hsm_rps=$(getv issuance.carecert.hsm .ok_rps); cc_hsm_p99=$(getv issuance.carecert.hsm .p99_ms)
hsm_raw=$(getv hsm_sign.softhsm2 .per_second)
cc_c1=$(getv crl100k.carecert .seconds); cf_c1=$(getv crl100k.cfssl .seconds); os_c1=$(getv crl100k.openssl .seconds)
cc_c2=$(getv crl1m.carecert .seconds); cf_c2=$(getv crl1m.cfssl .seconds); os_c2=$(getv crl1m.openssl .seconds)

{
    echo
    echo "carecert vs cfssl 1.2 -- ${BENCH_SECONDS}s per load run, $BENCH_CONNECTIONS connections, $BENCH_THREADS wrk threads, $(nproc) CPUs"
    echo "work dir fsync latency: ${FSYNC_MS_START} ms at start, ${FSYNC_MS_END} ms at end (SQLite issuance is bound by it)"
    echo "ratio = carecert / cfssl (throughput: >1 is better for carecert; seconds and latency: <1 is better)"
    echo
    row metric carecert cfssl ratio
    row "issuance/s (SQLite)" "$(fmt %.1f "$cc_sq_rps")" "$(fmt %.1f "$cf_rps")" "$(ratio "$cc_sq_rps" "$cf_rps")"
    row "issuance p50 / p99 ms (SQLite)" "$(fmt %.1f "$cc_sq_p50") / $(fmt %.1f "$cc_sq_p99")" \
        "$(fmt %.1f "$cf_p50") / $(fmt %.1f "$cf_p99")" "$(ratio "$cc_sq_p50" "$cf_p50") / $(ratio "$cc_sq_p99" "$cf_p99")"
    row "issuance/s (PostgreSQL)" "$(fmt %.1f "$cc_pg_rps")" "$(fmt %.1f "$cf_rps") (cfssl SQLite)" "$(ratio "$cc_pg_rps" "$cf_rps")"
    row "issuance p50 / p99 ms (PostgreSQL)" "$(fmt %.1f "$cc_pg_p50") / $(fmt %.1f "$cc_pg_p99")" \
        "$(fmt %.1f "$cf_p50") / $(fmt %.1f "$cf_p99") (SQLite)" "$(ratio "$cc_pg_p50" "$cf_p50") / $(ratio "$cc_pg_p99" "$cf_p99")"
    row "issuance/s (SQLite, key on SoftHSM2)" "$(fmt %.1f "$cc_hsm_rps") (p99 $(fmt %.1f "$cc_hsm_p99") ms)" \
        "token raw $(fmt %.0f "$hsm_raw") sign/s" "$(ratio "$cc_hsm_rps" "$hsm_raw") of raw"
    row "issuance errors (SQLite / PG)" "$(fmt %s "$cc_sq_err") / $(fmt %s "$cc_pg_err")" "$(fmt %s "$cf_err")" ""
    row "OCSP responses/s" "$(fmt %.1f "$cc_ocsp") (GET)" "$(fmt %.1f "$cf_ocsp") (POST)" "$(ratio "$cc_ocsp" "$cf_ocsp")"
    row "OCSP p99 ms / errors" "$(fmt %.2f "$cc_ocsp_p99") / $(fmt %s "$cc_ocsp_err")" "$(fmt %.2f "$cf_ocsp_p99") / $(fmt %s "$cf_ocsp_err")" "$(ratio "$cc_ocsp_p99" "$cf_ocsp_p99")"
    row "CRL 100k entries (s)" "$(fmt %.3f "$cc_c1")" "$(fmt %.3f "$cf_c1"); openssl $(fmt %.3f "$os_c1")" \
        "$(ratio "$cc_c1" "$cf_c1"); vs openssl $(ratio "$cc_c1" "$os_c1")"
    row "CRL 1M entries (s)" "$(fmt %.3f "$cc_c2")" "$(fmt %.3f "$cf_c2"); openssl $(fmt %.3f "$os_c2")" \
        "$(ratio "$cc_c2" "$cf_c2"); vs openssl $(ratio "$cc_c2" "$os_c2")"
    if ((BENCH_SCALE > 0)); then
        echo
        echo "carecert at scale: $BENCH_SCALE certificates seeded ($BENCH_SCALE_REVOKED revoked); empty = same engine before the seed; ${BENCH_SCALE_SECONDS}s per load run"
        printf '%-44s %-28s %-28s %s\n' metric SQLite PostgreSQL target
        srow() { # LABEL KEY JQ FORMAT TARGET
            printf '%-44s %-28s %-28s %s\n' "$1" "$(fmt "$4" "$(getv "scale.sqlite.$2" "$3")")" \
                "$(fmt "$4" "$(getv "scale.postgres.$2" "$3")")" "$5"
        }
        srow "issuance/s empty -> seeded" empty.issuance .ok_rps %.0f ""
        srow "  seeded" issuance .ok_rps %.0f ""
        srow "issuance p99 ms empty" empty.issuance .p99_ms %.1f ""
        srow "issuance p99 ms seeded" issuance .p99_ms %.1f "<= 1.2x empty"
        srow "revocation/s empty" empty.revocation .ok_rps %.0f ""
        srow "revocation/s seeded" revocation .ok_rps %.0f ""
        srow "revocation p99 ms empty" empty.revocation .p99_ms %.1f ""
        srow "revocation p99 ms seeded" revocation .p99_ms %.1f "<= 1.2x empty"
        srow "OCSP responses/s seeded" ocsp .ok_rps %.0f ">= 80000"
        srow "CRL systems: build+sign s (entries)" queries '"\(.crl_systems.best_ms / 1000) (\(.crl_systems.result.entries))"' %s "<= 1 s per 1M"
        srow "expiring in 90 days, dashboard ms" queries .expiring_90d_dashboard.best_ms %.1f "<= 50"
        srow "expiring in 90 days, reminders ms" queries .expiring_90d_reminders.best_ms %.1f "<= 50"
        srow "RA search by EPOC ms" queries .ra_search_by_epoc.best_ms %.1f "<= 50"
        srow "RA search by organisation name ms" queries .ra_search_by_org_name.best_ms %.1f "<= 50"
        srow "RA search by serial ms" queries .ra_search_by_serial.best_ms %.2f "<= 50"
        srow "start-up to ready s" server .startup_seconds %.2f "<= 2"
        srow "RSS idle MiB" server .rss_idle_mib %.1f "<= 64"
        srow "RSS peak under load MiB" server .rss_peak_mib %.1f "<= 256"
        srow "seed rows/s" seed .per_second %.0f ""
        srow "database size MiB" server '.database_bytes / 1048576' %.0f ""
    fi
    echo
} > "$WORK/table.txt"
cat "$WORK/table.txt"

if carecert_present; then cc_ver=$("$CARECERT_BIN" --version 2>/dev/null | head -n 1 || true); else cc_ver=""; fi
mkdir -p "$BENCH_RESULTS_DIR"
for f in "$RES"/*.json; do
    jq -c --arg k "$(basename "$f" .json)" '{($k): .}' "$f"
done | jq -s \
    --arg date "$(date -u +%Y-%m-%dT%H:%M:%SZ)" \
    --arg git "$(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo none)" \
    --arg carecert_bin "$CARECERT_BIN" --arg carecert_version "$cc_ver" \
    --arg cfssl_version "$("$CFSSL_BIN" version 2>/dev/null | head -n 1)" \
    --arg wrk "$(wrk -v 2>&1 | head -n 1 | awk '{print $2}')" \
    --arg fs "$(df -T "$WORK" | awk 'NR == 2 { print $2 }')" \
    --argjson cpus "$(nproc)" --argjson seconds "$BENCH_SECONDS" \
    --argjson conns "$BENCH_CONNECTIONS" --argjson threads "$BENCH_THREADS" \
    --argjson crl_runs "$BENCH_CRL_RUNS" --argjson elapsed "$((SECONDS - T_START))" \
    --arg fsync_start "$FSYNC_MS_START" --arg fsync_end "$FSYNC_MS_END" \
    --rawfile table "$WORK/table.txt" --rawfile failures "$WORK/failures" --rawfile warnings "$WORK/warnings" \
    '{meta: {date: $date, git: $git, carecert_bin: $carecert_bin, carecert_version: $carecert_version,
             cfssl_version: $cfssl_version, wrk: $wrk, work_filesystem: $fs, cpus: $cpus,
             bench_seconds: $seconds, connections: $conns, wrk_threads: $threads,
             crl_runs: $crl_runs, elapsed_seconds: $elapsed,
             fsync_ms_start: ($fsync_start | tonumber? // null), fsync_ms_end: ($fsync_end | tonumber? // null)},
      results: add,
      ratios: {},
      failures: ($failures | split("\n") | map(select(length > 0))),
      warnings: ($warnings | split("\n") | map(select(length > 0))),
      table: $table}' > "$WORK/latest.json"
# ratios, computed once from the results
jq '.ratios = (.results as $r | def q(a; b): if (a | type) == "number" and (b | type) == "number" and b != 0 then a / b else null end;
      {issuance_sqlite: q($r["issuance.carecert.sqlite"].ok_rps; $r["issuance.cfssl.sqlite"].ok_rps),
       issuance_postgres_vs_cfssl_sqlite: q($r["issuance.carecert.postgres"].ok_rps; $r["issuance.cfssl.sqlite"].ok_rps),
       issuance_p50_sqlite: q($r["issuance.carecert.sqlite"].p50_ms; $r["issuance.cfssl.sqlite"].p50_ms),
       issuance_p99_sqlite: q($r["issuance.carecert.sqlite"].p99_ms; $r["issuance.cfssl.sqlite"].p99_ms),
       ocsp: q($r["ocsp.carecert"].ok_rps; $r["ocsp.cfssl"].ok_rps),
       issuance_hsm_vs_token_raw: q($r["issuance.carecert.hsm"].ok_rps; $r["hsm_sign.softhsm2"].per_second),
       issuance_hsm_vs_file_key: q($r["issuance.carecert.hsm"].ok_rps; $r["issuance.carecert.sqlite"].ok_rps),
       crl_100k_vs_cfssl: q($r["crl100k.carecert"].seconds; $r["crl100k.cfssl"].seconds),
       crl_100k_vs_openssl: q($r["crl100k.carecert"].seconds; $r["crl100k.openssl"].seconds),
       crl_1m_vs_cfssl: q($r["crl1m.carecert"].seconds; $r["crl1m.cfssl"].seconds),
       crl_1m_vs_openssl: q($r["crl1m.carecert"].seconds; $r["crl1m.openssl"].seconds)})' \
    "$WORK/latest.json" > "$BENCH_RESULTS_DIR/latest.json"
log "results written to $BENCH_RESULTS_DIR/latest.json (elapsed $((SECONDS - T_START))s)"

if ! carecert_present; then
    log "NOTE: $(carecert_missing_msg); carecert columns are n/a"
fi
if [[ -s $WORK/warnings ]]; then
    log "warnings:"
    sed 's/^/  - /' "$WORK/warnings" >&2
fi
if [[ -s $WORK/failures ]]; then
    log "FAILED measurements:"
    sed 's/^/  - /' "$WORK/failures" >&2
    exit 1
fi
log "all measurements succeeded"
