#!/usr/bin/env bash
# Runs the fuzz targets one at a time, each for SECS seconds (default 20),
# seeded from real captures by virga-fuzz-seeds (bundled captures, plus
# ../shared when present). Fails on the first crash; the crasher is in
# parsers/fuzz/artifacts/TARGET or sensor/fuzz/artifacts/TARGET.
#
#   scripts/fuzz.sh [-t SECS] [TARGET...]
#
# Stable toolchain: RUSTC_BOOTSTRAP=1 lets cargo-fuzz pass its -Z flags.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
secs=20
if [ "${1:-}" = "-t" ]; then
  secs=$2
  shift 2
fi
parsers_targets=(dns_parse dns_tcp tls_client_hello tls_records tls_server_hello quic_initial http_request packet_decode defrag)
sensor_targets=(sensor_frames report_eve zeek_logs sysmon_events)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${parsers_targets[@]}" "${sensor_targets[@]}")

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1

shared=${VIRGA_SHARED_DIR:-../shared}
inputs=(sensor/tests/data/pcaps)
if [ -d "$shared/pcaps/public" ]; then
  inputs+=("$shared/pcaps/public" "$shared/corpus")
fi
cargo build --release -q -p virga-benches --bin virga-fuzz-seeds
./target/release/virga-fuzz-seeds target/fuzz-seeds "${inputs[@]}" | tr '\n' ' '
echo

mkdir -p target/fuzz-logs
for t in "${targets[@]}"; do
  # Sensor targets: inputs up to 8 KiB (each sensor_frames input starts a whole pipeline).
  case " ${sensor_targets[*]} " in
    *" $t "*) dir=sensor extra=(-max_len=8192) ;;
    *) dir=parsers extra=() ;;
  esac
  corpus=$root/target/fuzz-corpus/$t
  mkdir -p "$corpus"
  cp -n target/fuzz-seeds/"$t"/* "$corpus"/ 2>/dev/null || true
  log=$root/target/fuzz-logs/$t.log
  echo "-- $t (${secs}s)"
  if ! (cd "$dir" && nice -n 19 cargo fuzz run -O "$t" "$corpus" -- \
      -max_total_time="$secs" -print_final_stats=1 -timeout=20 -rss_limit_mb=2048 "${extra[@]}") >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $t failed; log $log" >&2
    exit 1
  fi
  grep -E '^Done|^stat::(number_of_executed_units|new_units_added)' "$log" | tr '\n' ' '
  grep -E '(pulse|NEW|REDUCE|INITED) +cov' "$log" | tail -n 1 | grep -oE 'cov: [0-9]+ ft: [0-9]+'
done
