#!/usr/bin/env bash
# A PKCS#11 token that counts wrong passcodes itself, for crates/token/tests/retry_counter.rs:
# the opencryptoki soft token (Debian package opencryptoki), which sets USER_PIN_COUNT_LOW
# after one wrong user PIN, USER_PIN_FINAL_TRY after two, locks the PIN after three and
# then answers CKR_PIN_LOCKED until the SO sets a new PIN (C_InitPIN). SoftHSM2 never locks.
#
# Idempotent: starts the pkcsslotd daemon when the module cannot reach it (one instance,
# under a lock), then re-initialises the soft token (C_InitToken with the factory SO PIN
# 87654321, label "carecert retry counter"): every run starts from a fresh token with no
# user PIN. If an earlier run or a person changed the SO PIN of *our* token (same label),
# the token's files are wiped and the daemon restarted; another token is never wiped.
#
# Prints what the test needs as key=value lines: module, slot, serial, label, so_pin.
# Needs root (or passwordless sudo) to start the daemon, and access to opencryptoki
# (root, or a member of the group pkcs11) for the rest.
set -euo pipefail

LABEL="carecert retry counter"
SO_PIN=87654321 # opencryptoki's factory SO PIN; C_InitToken only re-keys the token with it
DAEMON=/usr/sbin/pkcsslotd
PKCSCONF=/usr/sbin/pkcsconf
PIDFILE=/var/run/pkcsslotd.pid
SWTOK=/var/lib/opencryptoki/swtok
SHM=/dev/shm/var.lib.opencryptoki.swtok
LOCK=/var/lock/carecert-retry-token.lock

die() { echo "retry-token: $*" >&2; exit 1; }

MODULE=""
for m in /usr/lib/*/pkcs11/libopencryptoki.so /usr/lib/*/opencryptoki/libopencryptoki.so.0; do
  [ -e "$m" ] && { MODULE=$m; break; }
done
[ -x "$DAEMON" ] && [ -x "$PKCSCONF" ] && [ -n "$MODULE" ] ||
  die "opencryptoki is missing: install the Debian package opencryptoki (apt-get install opencryptoki)"
command -v pkcs11-tool >/dev/null 2>&1 || die "pkcs11-tool is missing: install the Debian package opensc"

SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"

healthy() { "$PKCSCONF" -s >/dev/null 2>&1; }

daemon_pid() {
  local pid
  pid=$(cat "$PIDFILE" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = pkcsslotd ] && echo "$pid"
  return 0
}

stop_daemon() {
  local pid
  pid=$(daemon_pid)
  [ -n "$pid" ] || return 0
  $SUDO kill "$pid" || true
  for _ in $(seq 1 50); do
    [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null || echo Z)" = Z ] && return 0
    sleep 0.1
  done
  die "pkcsslotd (pid $pid) did not stop"
}

start_daemon() {
  # The directories systemd-tmpfiles would make (containers often have no systemd).
  local d
  for d in /var/lock/opencryptoki /var/lock/opencryptoki/swtok "$SWTOK" "$SWTOK/TOK_OBJ"; do
    [ -d "$d" ] || { $SUDO mkdir -p -m 0770 "$d" && $SUDO chown root:pkcs11 "$d"; }
  done
  # A second pkcsslotd breaks the first one's shared memory: only start when none runs.
  [ -z "$(daemon_pid)" ] || stop_daemon
  # fd 9 (our lock) must not go to the daemon, or the lock would be held for good.
  $SUDO "$DAEMON" </dev/null >/dev/null 2>&1 9>&- || die "cannot start $DAEMON (run as root or with passwordless sudo)"
  for _ in $(seq 1 50); do healthy && return 0; sleep 0.1; done
  die "pkcsslotd started but opencryptoki does not answer: see 'pkcsconf -s' and the system log"
}

# One setup at a time (two test runs at once would share the one soft token anyway).
exec 9>>"$LOCK" || die "cannot open $LOCK"
flock -w 60 9 || die "another retry-token setup holds $LOCK"

healthy || start_daemon

# The soft token's slot: the token whose model is "IBM SoftTok" (slot 3 in Debian's config).
soft_slot() {
  "$PKCSCONF" -t 2>/dev/null | awk '
    /^Token #[0-9]+ Info/ { slot = $2; sub(/#/, "", slot) }
    /Model: IBM SoftTok/ { print slot; exit }'
}
SLOT=$(soft_slot)
[ -n "$SLOT" ] || die "opencryptoki lists no soft token (model 'IBM SoftTok'): check the slot with stdll = libpkcs11_sw.so in /etc/opencryptoki/opencryptoki.conf"

init_token() {
  pkcs11-tool --module "$MODULE" --slot "$SLOT" --init-token --so-pin "$SO_PIN" --label "$LABEL" 2>&1
}

if ! out=$(init_token); then
  current=$("$PKCSCONF" -t -c "$SLOT" 2>/dev/null | sed -n 's/^[[:space:]]*Label: //p' | sed 's/[[:space:]]*$//')
  if [ "$current" != "$LABEL" ]; then
    die "cannot re-initialise the opencryptoki soft token (label '$current'): $out
It is not this test's token, so it is left alone. To give it to the test, wipe it:
  kill \$(cat $PIDFILE); rm -f $SWTOK/NVTOK.DAT $SWTOK/MK_SO $SWTOK/MK_USER $SWTOK/TOK_OBJ/* $SHM"
  fi
  # Our token with a changed SO PIN (opencryptoki keeps its master key under the SO PIN,
  # so only a fresh token takes the factory PIN again): wipe its files and restart.
  stop_daemon
  $SUDO rm -f "$SWTOK/NVTOK.DAT" "$SWTOK/MK_SO" "$SWTOK/MK_USER" "$SHM"
  $SUDO find "$SWTOK/TOK_OBJ" -mindepth 1 -delete
  start_daemon
  out=$(init_token) || die "cannot initialise the opencryptoki soft token even after wiping it: $out"
fi

# cryptoki 0.12 (the token crate's binding) cannot read this token's C_GetTokenInfo: when
# CKF_CLOCK_ON_TOKEN is set it parses utcTime as YYYYMMDDhhmmss, and opencryptoki 3.8 puts
# strftime("%X") there ("00:54:33"), so get_token_info fails and the token crate does not
# list the token at all. Clear that one flag in the token's stored info (NVTOK.DAT starts
# with CK_TOKEN_INFO_32: label 32, manufacturer 32, model 16, serial 16, then the 4-byte
# flags, little-endian; every process loads it at C_Initialize). The PIN counter and lock
# flags next to it are untouched: they stay the token's own.
NVTOK="$SWTOK/NVTOK.DAT"
model=$(dd if="$NVTOK" bs=1 skip=64 count=11 2>/dev/null || true)
flags=$(od -An -tu1 -j96 -N1 "$NVTOK" 2>/dev/null | tr -d ' ' || true)
[ "$model" = "IBM SoftTok" ] && [[ "$flags" =~ ^[0-9]+$ ]] ||
  die "$NVTOK does not have the opencryptoki 3.8 layout this script knows (model '$model'): cannot clear CKF_CLOCK_ON_TOKEN"
if (( flags & 0x40 )); then
  # shellcheck disable=SC2059
  printf "$(printf '\\%03o' $(( flags & ~0x40 & 0xff )))" | $SUDO dd of="$NVTOK" bs=1 seek=96 count=1 conv=notrunc 2>/dev/null
fi
"$PKCSCONF" -t -c "$SLOT" | grep -q 'CLOCK_ON_TOKEN' && die "CKF_CLOCK_ON_TOKEN is still set on the soft token"

SERIAL=$("$PKCSCONF" -t -c "$SLOT" | sed -n 's/^[[:space:]]*Serial Number: //p' | sed 's/[[:space:]]*$//')
echo "module=$MODULE"
echo "slot=$SLOT"
echo "serial=$SERIAL"
echo "label=$LABEL"
echo "so_pin=$SO_PIN"
