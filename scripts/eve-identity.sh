#!/usr/bin/env bash
# Byte-for-byte comparison of the EVE output of two virga binaries.
#
#   scripts/eve-identity.sh record BINARY DIR   write BINARY's EVE for every capture into DIR
#   scripts/eve-identity.sh compare DIR_A DIR_B list every file that differs (exit 1 if any)
#
# Every capture under ../shared (corpus clients, timelines, public pcaps) and every test
# fixture under sensor/tests/data is replayed alone, with and without --log-all, with 1
# and 2 workers. A capture virga refuses records its exit status and stderr instead, so
# refusals are compared too. The lines of one run are compared as a sorted multiset: the
# writer interleaves the workers' events and the detection stage's alerts in the order
# they arrive, which varies from run to run; every line itself must be byte-identical.
# Typical use, before and after a change:
#
#   git stash; cargo build --release -p virga; cp target/release/virga /tmp/virga-before
#   git stash pop; cargo build --release -p virga
#   scripts/eve-identity.sh record /tmp/virga-before /tmp/eve-before
#   scripts/eve-identity.sh record target/release/virga /tmp/eve-after
#   scripts/eve-identity.sh compare /tmp/eve-before /tmp/eve-after
set -euo pipefail
cd "$(dirname "$0")/.."

captures() {
  {
    [ -d ../shared ] && find ../shared/corpus ../shared/pcaps -type f \( -name '*.pcap' -o -name '*.pcapng' -o -name '*.cap' \)
    find sensor/tests/data -type f \( -name '*.pcap' -o -name '*.pcapng' \)
  } | LC_ALL=C sort
}

record() {
  local bin=$1 dir=$2 cfg
  mkdir -p "$dir"
  cfg=$(mktemp -d)
  for w in 1 2; do
    printf '[pipeline]\nworkers = %d\n' "$w" >"$cfg/w$w.toml"
  done
  captures | while read -r pcap; do
    local name=${pcap#../}
    name=${name//\//_}
    for w in 1 2; do
      for mode in default log-all; do
        local out="$dir/$name.w$w.$mode"
        local flag=()
        [ "$mode" = log-all ] && flag=(--log-all)
        # stderr holds a progress line on a terminal only; the status is kept.
        local rc=0
        "$bin" replay -c "$cfg/w$w.toml" "${flag[@]}" -o - "$pcap" >"$out.eve" 2>"$out.err" || rc=$?
        echo "$rc" >"$out.rc"
      done
    done
  done
  rm -rf "$cfg"
  echo "recorded $(find "$dir" -name '*.eve' | wc -l) runs into $dir"
}

compare() {
  local a=$1 b=$2 diffs=0 n=0
  for f in "$a"/*; do
    n=$((n + 1))
    local g="$b/$(basename "$f")"
    if ! cmp -s <(LC_ALL=C sort "$f") <(LC_ALL=C sort "$g"); then
      echo "differs: $(basename "$f")"
      diffs=$((diffs + 1))
    fi
  done
  [ "$(find "$a" -type f | wc -l)" -eq "$(find "$b" -type f | wc -l)" ] || { echo "file counts differ"; diffs=$((diffs + 1)); }
  echo "$n files compared, $diffs differ"
  [ "$diffs" -eq 0 ]
}

case "${1:-}" in
  record) record "$(realpath "$2")" "$3" ;;
  compare) compare "$2" "$3" ;;
  *)
    echo "usage: scripts/eve-identity.sh record BINARY DIR | compare DIR_A DIR_B" >&2
    exit 2
    ;;
esac
