# Sourced by the bench scripts. With PROFILE=DIR set, `profile_start NAME PID` records PID with
# perf (499 Hz, no call graphs: those cost the measured run more than own time needs; PID "all"
# records every process, as for Postgres backends) into DIR/NAME.perf until `profile_stop NAME`,
# which writes DIR/NAME.top: the symbols with the most time of their own (demangled), for the
# "what limits it" notes. Without PROFILE both do nothing.
profile_start() {  # name pid
    perf_pid=
    [ -n "${PROFILE:-}" ] || return 0
    mkdir -p "$PROFILE"
    local target=(-p "$2")
    [ "$2" = all ] && target=(-a)
    perf record -F 499 "${target[@]}" -o "$PROFILE/$1.perf" >/dev/null 2>&1 &
    perf_pid=$!
}
profile_stop() {  # name
    [ -n "${perf_pid:-}" ] || return 0
    kill -INT "$perf_pid" 2>/dev/null || true; wait "$perf_pid" 2>/dev/null || true
    perf_pid=
    local demangle=(cat)
    command -v swift >/dev/null && demangle=(swift demangle --simplified)
    perf report -i "$PROFILE/$1.perf" --no-children --sort comm,dso,symbol --percent-limit 1.5 --stdio 2>/dev/null \
        | grep -E '^ +[0-9]' | head -n 12 | "${demangle[@]}" \
        | awk '{ pct = $1; comm = $2; dso = $3; $1 = $2 = $3 = $4 = ""; sub(/^ +/, ""); sub(/( +-)+ *$/, ""); printf "%s %s (%s, %s)\n", pct, substr($0, 1, 110), comm, dso }' >"$PROFILE/$1.top" || true
    # And by where the code lives: the kernel (syscalls, TCP), the Swift runtime (reference
    # counting, allocation), libc, NIO and pgrelay's own code (both in the pgrelay binary), Postgres.
    {
        echo "by library:"
        perf report -i "$PROFILE/$1.perf" --no-children --sort dso --percent-limit 2 --stdio 2>/dev/null \
            | grep -E '^ +[0-9]' | awk '{ printf "  %s %s\n", $1, $2 }'
    } >>"$PROFILE/$1.top" || true
}
