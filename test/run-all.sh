#!/usr/bin/env bash
# `npm test`: the set-up (test/setup.sh), the build, then the three tiers (unit, real cluster,
# end to end in real VS Code) as separate node:test runs, and one summary: each tier's count and
# time, the total count, the skipped tests with their reasons. Exits non-zero when anything failed.
# A tier that cannot run here skips itself with the reason; in CI (CI=true) that is a failure.
set -euo pipefail
cd "$(dirname "$0")/.."
t0=$(date +%s)
bash test/setup.sh test
npm run --silent package
npm run --silent compile-tests
t_build=$(( $(date +%s) - t0 ))

results=.cache/test-results
rm -rf "$results" && mkdir -p "$results"
# UCD_TEST_TIERS="unit" runs only the tiers named (the summary counts only those).
read -r -a tiers <<< "${UCD_TEST_TIERS:-unit cluster e2e}"
declare -A secs rcs
for tier in "${tiers[@]}"; do
  echo "::: $tier tests"
  s=$(date +%s)
  set +e
  # spec for the reader, TAP to a file for the summary below.
  node --test --test-concurrency=1 \
    --test-reporter=spec --test-reporter-destination=stdout \
    --test-reporter=tap --test-reporter-destination="$results/$tier.tap" \
    "out/test/$tier"
  rcs[$tier]=$?
  set -e
  secs[$tier]=$(( $(date +%s) - s ))
done

# The TAP reporter ends with "# tests N", "# pass N", ... for its whole run.
count() { awk -v k="$2" '$1 == "#" && $2 == k { n = $3 } END { print n + 0 }' "$results/$1.tap"; }
duration() { local t=$1; if [ "$t" -ge 60 ]; then echo "$((t / 60)) min $((t % 60)) s"; else echo "$t s"; fi; }
total=0 pass=0 fail=0 skipped=0 cancelled=0 todo=0 status=0 times=()
echo
echo "::: summary"
for tier in "${tiers[@]}"; do
  n=$(count "$tier" tests) p=$(count "$tier" pass) f=$(count "$tier" fail) sk=$(count "$tier" skipped) c=$(count "$tier" cancelled) td=$(count "$tier" todo)
  if ! grep -q '^# tests ' "$results/$tier.tap" 2>/dev/null; then
    echo "$tier: node --test ended (exit ${rcs[$tier]}) without a summary" && status=1
  fi
  [ "${rcs[$tier]}" -ne 0 ] && status=1
  printf '%-8s tests %4d, pass %4d, fail %3d, skipped %3d  in %s\n' "$tier" "$n" "$p" "$f" "$sk" "$(duration "${secs[$tier]}")"
  total=$((total + n)) pass=$((pass + p)) fail=$((fail + f)) skipped=$((skipped + sk)) cancelled=$((cancelled + c)) todo=$((todo + td))
  times+=("$tier $(duration "${secs[$tier]}")")
done
# Skipped tests, with the reason each gave (TAP: "ok 3 - name # SKIP reason").
if [ "$skipped" -gt 0 ]; then
  echo "skipped:"
  for tier in "${tiers[@]}"; do
    sed -n 's/^ *ok [0-9]* - \(.*\) # SKIP\(.*\)$/  '"$tier"': \1 —\2/p' "$results/$tier.tap"
  done
fi
echo "tests $total, pass $pass, fail $fail, cancelled $cancelled, skipped $skipped, todo $todo"
echo "time: set-up and build $(duration "$t_build"), $(IFS=,; echo "${times[*]}" | sed 's/,/, /g'); total $(duration $(( $(date +%s) - t0 )))"
exit "$status"
