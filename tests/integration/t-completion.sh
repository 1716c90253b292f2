#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-completion.sh — the bash completion (shell-completion/bash/dwell), sourced
# by a bash running as alice (with `set -u` and nullglob, as a picky
# interactive shell might have), its COMPREPLY checked for a given line:
#   - verbs, global options, each verb's options, the values of
#     --output-buffering, --state, and "--config=NAME" as bash splits it;
#   - configuration names: exactly those `dwell --json config list` gives
#     alice (t-completion.d: default, ops, odd_name-1.2; not admin);
#   - session names from `dwell --json list`: alice's (work, a..b) and one bob
#     shares with her through ops (_--all, running a command whose text holds
#     $(touch ...) and "name": "evil-cmd"); ops's description holds the same
#     kind of text: nothing is executed, no "evil" name is offered;
#   - after -H HOST the names come from `dwell -H HOST --json list`: DWELL_SSH
#     is a fake ssh that runs dwell-bridge against a second dwelld ("far"),
#     also as -H alice@far:2222; ssh gets -o BatchMode=yes;
#   - nothing on stderr and an empty answer, within the time limit, when
#     dwelld is not there, when the host is down, when ssh hangs and when a
#     socket accepts but never answers (DWELL_COMPLETION_TIMEOUT=1); nothing
#     from a typed word like $(touch ...) is executed either.

. "$(dirname "$0")/lib.sh"

comp=$DWELL_SANDBOX/dwell.bash
install -m 0644 "$top_srcdir/shell-completion/bash/dwell" "$comp" || fail "the completion file exists"

# The driver: completes LINE (the cursor at its end), splitting it as bash
# does (at blanks, and at each COMP_WORDBREAKS character, each its own
# word); prints COMPREPLY, one per line.
driver=$DWELL_SANDBOX/complete.sh
cat >"$driver" <<'EOF'
set -u
shopt -s nullglob
source "$1"
line=$2
COMP_LINE=$line
COMP_POINT=${#line}
COMP_WORDS=()
w=
for ((k = 0; k < ${#line}; k++)); do
        ch=${line:k:1}
        case $ch in
        ' ') [[ -n $w ]] && COMP_WORDS+=("$w"); w=;;
        [=:@]) [[ -n $w ]] && COMP_WORDS+=("$w"); COMP_WORDS+=("$ch"); w=;;
        *) w+=$ch;;
        esac
done
if [[ -n $w ]]; then
        COMP_WORDS+=("$w")
else
        [[ $line == *' ' || ${COMP_WORDS[${#COMP_WORDS[@]} - 1]} == [=:@] ]] && COMP_WORDS+=("")
fi
COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
cur=${COMP_WORDS[COMP_CWORD]}
COMPREPLY=()
_dwell dwell "$cur" "${COMP_WORDS[COMP_CWORD - 1]}"
[[ ${#COMPREPLY[@]} -gt 0 ]] && printf '%s\n' "${COMPREPLY[@]}"
exit 0
EOF
chmod 0644 "$driver"

# complete LINE [VAR=VALUE...]: COMPREPLY as one line of words in OUT, sorted;
# stderr in ERR.
complete() {
        local line=$1
        shift
        capture alice "$@" bash --norc --noprofile "$driver" "$comp" "$line"
        OUT=$(printf '%s\n' "$OUT" | LC_ALL=C sort | tr '\n' ' ' | sed 's/^ *//; s/ *$//')
}

# check LINE EXPECTED DESC [VAR=VALUE...]
check() {
        local line=$1 want=$2 desc=$3
        shift 3
        complete "$line" "$@"
        expect_eq "$OUT" "$want" "$desc"
        [ -z "$ERR" ] || fail "  ... nothing on stderr" "$ERR"
}

# -- verbs and options -------------------------------------------------------------
check 'dwell ' 'config connect disconnect invoke list new receive remove replay watch' "verbs"
check 'dwell re' 'receive remove replay' "verbs starting with re"
check 'dwell --' '--help --host --hosts-file --interleave --json --reconnect-timeout --socket --throttle --version' "global options"
check 'dwell -H far --json in' 'invoke' "the verb after global options"
check 'dwell invoke -' '--config --credential --disconnected --help --idle-timeout --name --output-buffering --reconnect-timeout -c -d -h -n' \
        "invoke's options"
check 'dwell receive --' '--credential --fail --help --no-wait --output-buffering --raw --reconnect-timeout' "receive's options"
check 'dwell connect --' '--config --credential --detach-keys --help --output-buffering --reconnect-timeout --terminal' "connect's options"
check 'dwell new -' '--config --credential --help --idle-timeout --name --output-buffering --terminal -c -h -n -t' "new's options"
check 'dwell list --' '--all-users --config --credential --help --long --state' "list's options"
check 'dwell remove --' '--all --credential --help' "remove's options"
check 'dwell new --output-buffering ' 'block drop' "--output-buffering: block, drop"
check 'dwell list --state D' 'Disconnected' "--state values"
check 'dwell config ' 'list show' "config: list, show"

# -- configuration names ------------------------------------------------------------
dwell_json alice config list
want=$(json_eval "$OUT" '" ".join(sorted(c["name"] for c in d))')
expect_eq "$want" "default odd_name-1.2 ops" "(alice may use default, odd_name-1.2, ops)"
check 'dwell new -c ' "$want" "new -c: the configurations alice may use"
check 'dwell invoke --config o' 'odd_name-1.2 ops' "invoke --config o: those starting with o"
check 'dwell new --config=op' 'ops' "--config=op (split by bash at '=')"
check 'dwell new --config=' "$want" "--config= (the cursor after '=')"
check 'dwell config show ' "$want" "config show: configuration names"
check 'dwell config show ops ' '' "config show NAME: nothing more"

# -- session names --------------------------------------------------------------------
capture alice dwell new -n work
expect_rc 0 "alice: new -n work"
capture alice dwell new -n a..b
expect_rc 0 "alice: new -n a..b"
capture bob dwell new -n _--all -c ops
expect_rc 0 "bob: new -n _--all -c ops (shared with alice)"
capture bob dwell invoke -d _--all -- 'sleep 60; echo "$(touch /tmp/pwned-cmd)" `touch /tmp/pwned-cmd2` "name": "evil-cmd"'
expect_rc 0 "  ... running a command whose text holds \$(...), \`...\` and \"name\": \"evil-cmd\""
dwell_json alice list
expect_eq "$(json_names "$OUT" | tr '\n' ' ')" "_--all a..b work " "(alice's list: _--all a..b work)"
expect_match "$OUT" 'evil-cmd' "(the command text is in alice's JSON)"

check 'dwell receive ' '_--all a..b work' "receive: alice's sessions and the one bob shares"
check 'dwell connect w' 'work' "connect w: work"
check 'dwell remove work ' '_--all a..b work' "remove takes several sessions"
check 'dwell connect work ' '' "connect takes one session"
check 'dwell invoke -d ' '_--all a..b work' "invoke -d: a session"
check 'dwell invoke work -- ' '' "invoke SESSION --: nothing (the command)"
check 'dwell list -c ops ' '_--all a..b work' "list -c ops: sessions after an option's value"
check 'dwell disconnect --idle-timeout 5m _' '_--all' "disconnect after --idle-timeout DUR"
for f in /tmp/pwned-desc /tmp/pwned-bq /tmp/pwned-cmd /tmp/pwned-cmd2; do
        [ -e "$f" ] && fail "nothing from dwell's output is executed" "$f exists"
done
pass "nothing from dwell's output was executed (no /tmp/pwned-*)"

# A typed word is not executed either.
check 'dwell receive $(touch /tmp/pwned-cur)' '' "a typed \$(...) word: no candidates"
check 'dwell receive `touch /tmp/pwned-cur2`' '' "a typed \`...\` word: no candidates"
check 'dwell receive *' '' "a typed * : no candidates"
check 'dwell --socket=$(touch /tmp/pwned-cur3) receive ' '' "--socket=\$(...): no candidates"
[ -e /tmp/pwned-cur ] || [ -e /tmp/pwned-cur2 ] || [ -e /tmp/pwned-cur3 ] ||
        pass "  ... and nothing typed was executed"

# -- -H HOST ---------------------------------------------------------------------------
install -d -m 0755 /run/dwell-far
"$top_builddir/src/dwelld/dwelld" --socket /run/dwell-far/dwelld.sock --state-dir /run/dwell-far \
        --config-dir "$DWELL_TEST_CONFIG_DIR" 2>>"$DWELL_LOG_DIR/dwelld-far.log" </dev/null &
track_pid $!
wait_for "[ -S /run/dwell-far/dwelld.sock ]" 10 || fail "the second dwelld listens" "$(tail "$DWELL_LOG_DIR/dwelld-far.log")"

fake=$DWELL_SANDBOX/fake-ssh
sshlog=$DWELL_SANDBOX/fake-ssh.log
: >"$sshlog"
chmod 0666 "$sshlog"
cat >"$fake" <<EOF
#!/bin/bash
# A fake ssh: "far" runs dwell-bridge against the second dwelld, "hang"
# never answers, anything else is down.
printf '%s\n' "\$*" >>$sshlog
while [ \$# -gt 0 ]; do
        case \$1 in
        -o | -F | -p | -l) shift 2;;
        --) shift; break;;
        -*) shift;;
        *) break;;
        esac
done
case \$1 in
far) DWELL_SOCKET=/run/dwell-far/dwelld.sock exec $DWELL_LIBEXECDIR/dwell-bridge;;
hang) exec sleep 30;;
*) echo "ssh: connect to host \$1 port 22: Connection refused" >&2; exit 255;;
esac
EOF
chmod 0755 "$fake"
SSH="DWELL_SSH=$fake"

capture alice "$SSH" dwell -H far new -n farwork
expect_rc 0 "alice: -H far new -n farwork (through the fake ssh and dwell-bridge)"
check 'dwell -H far receive ' 'farwork' "-H far receive: the names on far" "$SSH"
check 'dwell -H alice@far:2222 receive f' 'farwork' "-H alice@far:2222 (split by bash at @ and :)" "$SSH"
check 'dwell --host=far list ' 'farwork' "--host=far" "$SSH"
check 'dwell --host far,far remove ' 'farwork' "-H far,far: each name once" "$SSH"
check 'dwell -H far new -c ' "$want" "-H far new -c: configurations on far" "$SSH"
expect_match "$(cat "$sshlog")" '^-o BatchMode=yes -T -s -p 2222 -l alice -- far dwell$' \
        "ssh runs in BatchMode (no password or host key prompt)"

check 'dwell -H down receive ' '' "a host that is down: nothing" "$SSH"
t0=$(date +%s%N)
check 'dwell -H hang receive ' '' "a host whose ssh hangs: nothing" "$SSH" DWELL_COMPLETION_TIMEOUT=1
t=$((($(date +%s%N) - t0) / 1000000))
if [ "$t" -lt 5000 ]; then pass "  ... within the time limit (${t} ms)"; else fail "  ... within the time limit" "${t} ms"; fi
wait_for '! pgrep -x -f "sleep 30" >/dev/null' 5 || true
expect_eq "$(pgrep -a -x -f 'sleep 30')" "" "  ... and the hanging ssh is gone"

# -- no dwelld, a dwelld that never answers ---------------------------------------------
check 'dwell receive ' '' "no dwelld at the socket: nothing" DWELL_SOCKET=/run/nosuch.sock
check 'dwell new -c ' '' "  ... no configuration names either" DWELL_SOCKET=/run/nosuch.sock
check 'dwell --socket /run/nosuch.sock receive ' '' "--socket PATH is used for the query"
"$PYTHON" -c '
import os, socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
os.chmod(sys.argv[1], 0o666)
s.listen(16)
time.sleep(60)
' "$DWELL_SANDBOX/mute.sock" &
track_pid $!
wait_for "[ -S '$DWELL_SANDBOX/mute.sock' ]" 5 || fail "the mute socket listens"
t0=$(date +%s%N)
check 'dwell receive ' '' "a socket that never answers: nothing" DWELL_SOCKET="$DWELL_SANDBOX/mute.sock" DWELL_COMPLETION_TIMEOUT=1
t=$((($(date +%s%N) - t0) / 1000000))
if [ "$t" -lt 5000 ]; then pass "  ... within the time limit (${t} ms)"; else fail "  ... within the time limit" "${t} ms"; fi

capture bob dwell remove _--all
expect_rc 0 "bob: remove _--all"
