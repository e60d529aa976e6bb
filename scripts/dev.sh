#!/usr/bin/env bash
# One entry point for a fresh machine: installs what the build and tests need
# (Debian packages, when missing), then runs the sample or the tests.
#
#   scripts/dev.sh sample   build virga and run it on the bundled sample pcap
#   scripts/dev.sh test     run the workspace test suite
#   scripts/dev.sh setup    only install the system packages
set -euo pipefail
cd "$(dirname "$0")/.."

setup() {
  local need=()
  dpkg -s libpcap-dev >/dev/null 2>&1 || need+=(libpcap-dev)
  command -v tcpreplay >/dev/null 2>&1 || need+=(tcpreplay)
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  if [ ${#need[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "dev.sh: installing ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

case "${1:-}" in
  setup) setup ;;
  sample)
    setup
    cargo build --release -q -p virga
    ./target/release/virga replay --log-all -o - sensor/tests/data/pcaps/sample.pcap
    ;;
  test)
    setup
    cargo test --workspace
    ;;
  *)
    echo "usage: scripts/dev.sh sample|test|setup" >&2
    exit 2
    ;;
esac
