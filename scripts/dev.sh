#!/usr/bin/env bash
# One entry point for a fresh machine: installs what the build and tests need
# (Debian packages, when missing), then runs the sample or the tests.
#
#   scripts/dev.sh sample   build virga and run it on the bundled sample pcap
#   scripts/dev.sh test     run the workspace test suite
#   scripts/dev.sh setup    only install the system packages
#   scripts/dev.sh build    the release build (the command deploy/Dockerfile runs)
#   scripts/dev.sh deploy-check   that build, then systemd-analyze verify deploy/virga.service
#   scripts/dev.sh sigma    check the Sigma rules of deploy/sigma and convert them (sigma-cli
#                           and its backends from PyPI, in the virtual environment .venv-sigma)
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
  # The report test renders virga's HTML report in headless Chromium.
  command -v chromium >/dev/null 2>&1 || need+=(chromium)
  command -v python3 >/dev/null 2>&1 || need+=(python3)
  # `scripts/dev.sh sigma` makes a virtual environment: Debian's python3 needs
  # python3-venv for that (it brings ensurepip).
  python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
  # The Redis output and shared prevalence tests start their own server.
  command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
  if [ ${#need[@]} -gt 0 ]; then
    apt_install "${need[@]}"
  fi
}

apt_install() {
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "dev.sh: installing $*" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$@" >/dev/null
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

# sigma-cli with the Splunk and Elasticsearch backends in .venv-sigma, then
# every rule of deploy/sigma checked (issues fail) and converted to Splunk SPL,
# Lucene and ES|QL (a conversion error fails). The ATT&CK and D3FEND tag
# validators are excluded: they download their catalogues from GitHub.
sigma() {
  local venv=.venv-sigma
  if [ ! -x "$venv/bin/sigma" ]; then
    rm -rf "$venv"
    # Debian's python3 makes virtual environments only with python3-venv.
    python3 -m venv "$venv" 2>/dev/null || { rm -rf "$venv"; apt_install python3-venv; python3 -m venv "$venv"; }
    # The major versions the rules were checked with.
    "$venv/bin/pip" install -q 'sigma-cli>=3.1,<4' 'pySigma>=1.5,<2' \
      'pysigma-backend-splunk>=2.1,<3' 'pySigma-backend-elasticsearch>=2.1,<3'
  fi
  "$venv/bin/sigma" check --fail-on-issues -x attacktag -x d3_fendtag deploy/sigma
  local target
  for target in splunk lucene esql; do
    echo "== sigma convert -t $target"
    "$venv/bin/sigma" convert -t "$target" --without-pipeline deploy/sigma
    echo
  done
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
  sigma)
    setup
    sigma
    ;;
  *)
    echo "usage: scripts/dev.sh sample|test|setup|build|deploy-check|sigma" >&2
    exit 2
    ;;
esac
