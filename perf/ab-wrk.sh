#!/usr/bin/env bash
# Interleaved A/B/… rounds of wrk against running one-worker servers, for a before/after
# comparison on a shared machine: each round runs every server once in turn, so drift in the
# machine's load weighs on all of them alike. Besides wrk's requests/s it reports the worker's
# CPU time per request (utime+stime from /proc/PID/stat over the requests wrk counted), which
# moves far less with the load of other processes than throughput does.
#
# usage: perf/ab-wrk.sh PATH_ LABEL:PORT:WORKER_PID ...
#   PATH_    the request path, e.g. /products/1/styles, or /reviews with SCRIPT=perf/post-review.lua
#   env      SCRIPT (a wrk Lua script, none), ROUNDS (5), DURATION (8s), CONNECTIONS (32),
#            WRK_CPU (1): wrk runs under taskset -c WRK_CPU
#
# Start each server with WORKERS=1 under `taskset -c 0` (the other core); its worker's pid is the
# `worker` of its `worker_forked` log line. Prints one line per run, then per label the median
# requests/s, the median CPU µs/request, their ranges, and the load average at the start and end.
set -euo pipefail

path=${1:?usage: perf/ab-wrk.sh PATH_ LABEL:PORT:WORKER_PID ...}
shift
[[ $# -gt 0 ]] || { echo 'give at least one LABEL:PORT:WORKER_PID' >&2; exit 2; }
rounds=${ROUNDS:-5} duration=${DURATION:-8s} connections=${CONNECTIONS:-32} wrk_cpu=${WRK_CPU:-1}
ticks=$(getconf CLK_TCK)
script=()
if [[ -n ${SCRIPT:-} ]]; then script=(-s "$SCRIPT"); fi

bench() { # port duration → wrk's output
  taskset -c "$wrk_cpu" wrk -t1 -c"$connections" -d"$2" "${script[@]}" "http://127.0.0.1:$1$path"
}
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

for spec in "$@"; do IFS=: read -r _ port _ <<<"$spec"; bench "$port" 2s >/dev/null; done # warm-up
load_start=$(cut -d' ' -f1 /proc/loadavg)
runs=$(
  for ((round = 1; round <= rounds; round++)); do
    for spec in "$@"; do
      IFS=: read -r label port pid <<<"$spec"
      before=$(cpu_ticks "$pid")
      out=$(bench "$port" "$duration")
      after=$(cpu_ticks "$pid")
      echo "$out" | awk -v label="$label" -v ticks="$((after - before))" -v hz="$ticks" '
        /requests in/ { requests = $1 } /Requests\/sec/ { rps = $2 } /Non-2xx/ { bad = $NF }
        END { printf "%s %s %.2f %d\n", label, rps, ticks / hz * 1e6 / requests, bad }'
    done
  done
)
echo 'label requests/s cpu_us/request non_2xx'
echo "$runs"
echo "$runs" | awk -v l0="$load_start" -v l1="$(cut -d' ' -f1 /proc/loadavg)" '
  function median(list, sorted, n, i, j, t) {
    n = split(list, sorted, " ")
    for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (sorted[j] + 0 < sorted[i] + 0) { t = sorted[i]; sorted[i] = sorted[j]; sorted[j] = t }
    low = sorted[1]; high = sorted[n]
    return n % 2 ? sorted[(n + 1) / 2] : (sorted[n / 2] + sorted[n / 2 + 1]) / 2
  }
  !($1 in seen) { seen[$1] = 1; order[++labels] = $1 }
  { rps[$1] = rps[$1] " " $2; cpu[$1] = cpu[$1] " " $3 }
  END {
    for (k = 1; k <= labels; k++) {
      label = order[k]
      r = median(rps[label]); rl = low; rh = high; c = median(cpu[label])
      printf "%s: median %.0f req/s (%.0f–%.0f), median %.2f CPU µs/request (%.2f–%.2f)\n", label, r, rl, rh, c, low, high
    }
    printf "load average (1 min): %s at the start, %s at the end\n", l0, l1
  }'
