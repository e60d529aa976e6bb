#!/usr/bin/env bash
# One entry point for a fresh machine: installs what the build and tests need
# (Debian packages, when missing), then runs the sample or the tests.
#
#   scripts/dev.sh sample   build virga and run it on the bundled sample pcap
#   scripts/dev.sh test     run the workspace test suite
#   scripts/dev.sh setup    only install the system packages
#   scripts/dev.sh build    the release build (the command deploy/Dockerfile runs)
#   scripts/dev.sh deploy-check   that build, then systemd-analyze verify deploy/virga.service
set -euo pipefail
cd "$(dirname "$0")/.."

setup() {
  local need=()
  dpkg -s libpcap-dev >/dev/null 2>&1 || need+=(libpcap-dev)
  # rediss:// (the redis crate's TLS through native-tls: OpenSSL).
  dpkg -s libssl-dev >/dev/null 2>&1 || need+=(libssl-dev)
  command -v pkg-config >/dev/null 2>&1 || need+=(pkg-config)
  command -v tcpreplay >/dev/null 2>&1 || need+=(tcpreplay)
  command -v ip >/dev/null 2>&1 || need+=(iproute2)
  command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
  # The Redis output and shared prevalence tests start their own server.
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  if [ ${#need[@]} -gt 0 ]; then
    local sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "dev.sh: installing ${need[*]}" >&2
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
  fi
}

# deploy/Dockerfile runs this exact command (sensor/tests/deploy.rs checks it).
build() {
  cargo build --release --locked -p virga
}

# systemd-analyze verify prints its findings and still exits 0, so any output
# fails. The unit names /usr/local/bin/virga, which must exist to verify: a
# copy points at the binary just built instead.
deploy_check() {
  build
  local dir out
  dir=$(mktemp -d)
  sed "s|/usr/local/bin/virga|$PWD/target/release/virga|g" deploy/virga.service >"$dir/virga.service"
  out=$(systemd-analyze verify "$dir/virga.service" 2>&1) || { echo "$out" >&2; rm -rf "$dir"; return 1; }
  rm -rf "$dir"
  if [ -n "$out" ]; then
    echo "systemd-analyze verify deploy/virga.service:" >&2
    echo "$out" >&2
    return 1
  fi
  echo "deploy/virga.service: systemd-analyze verify ok"
}

case "${1:-}" in
  setup) setup ;;
  build)
    setup
    build
    ;;
  deploy-check)
    setup
    deploy_check
    ;;
  sample)
    setup
    build
    ./target/release/virga replay --log-all -o - sensor/tests/data/pcaps/sample.pcap
    ;;
  test)
    setup
    cargo test --workspace
    ;;
  *)
    echo "usage: scripts/dev.sh sample|test|setup|build|deploy-check" >&2
    exit 2
    ;;
esac
