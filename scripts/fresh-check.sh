#!/usr/bin/env bash
# A new user's first run, from a fresh clone: clone this repository's committed
# HEAD into a temporary folder of mode 0700 (as /root), run the README's two commands there (make report,
# then make test), time each and print each one's last line. Run it before a
# release: CI on a machine that rtlab already changed cannot see a missing
# first-run step. Start from a purged host (make purge) to take the first-run
# path exactly. Exit status: non-zero when either command failed.
set -uo pipefail
# The body is a function, read whole before it runs: bash reads a script as it goes,
# so editing this file while it runs (it takes ~25 minutes) would break the run.
main() {
  repo="$(cd "$(dirname "$0")/.." && pwd)"
  work="$(mktemp -d /tmp/rtlab-fresh-check.XXXXXX)"
  # only root can enter it, as /root (where a root user's clone usually sits): a command
  # rtlab runs as another user must never start in, or read from, the clone
  chmod 0700 "$work"
  echo "fresh-check: cloning $repo (HEAD $(git -C "$repo" rev-parse --short HEAD)) into $work/rtlab"
  git clone -q "$repo" "$work/rtlab" || { echo "fresh-check: git clone failed" >&2; exit 2; }
  cd "$work/rtlab"
  status=0
  for target in report test; do
    log="$work/make-$target.log"
    start=$(date +%s)
    make "$target" >"$log" 2>&1
    rc=$?
    secs=$(( $(date +%s) - start ))
    last="$(grep -v '^[[:space:]]*$' "$log" | tail -n 1)"
    echo "fresh-check: make $target: exit $rc in ${secs} s; last line: $last"
    [ "$rc" -eq 0 ] || status=1
  done
  echo "fresh-check: logs in $work (make-report.log, make-test.log)"
  exit $status
}
main "$@"
exit $?
