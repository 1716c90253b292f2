#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-credential-oracle.sh — `--credential` is not a password oracle.
#
# bob attacks alice's password: 60 `dwell list --credential alice` in
# parallel (released together from a barrier), each with another guess on
# stdin (the right one, alice-pw, among them, released once dwelld holds
# the 59 others' connections), all killed together 3 s after the first
# were released, whatever happened (the right one too: outliving the
# others would give it the next turn, which no attacker can count on when
# racing his own guesses).  dwelld must run at most a
# few of them through PAM (one attempt of a caller at a time, the next one
# only after a delay after a failure): pam_authenticate calls are counted by
# the sandbox's pam_exec hook (pam-auth.log).  Every one of the 60 requests
# is audited exactly once (auth-failed, caller bob, target alice), also
# those whose client left, and none succeeds.  PAM_RUSER is the caller
# (bob), not the target.
#
# This test's dwelld.yaml admits all 60 (max_pending_per_user: 100): the
# rationing alone must hold.  Then, with its delay of 1s doubling to 2s and
# its lock-out after 5 failures per caller and target in 10 minutes, bob's wrong
# guesses for carol lock bob out of carol — his next attempt, with the
# right password, is refused without running PAM; alice is not locked out
# of carol and bob not out of alice (right password: success).
#
# dave's account is expired: the right and a wrong password get the same
# answer (auth-failed, "authentication as dave failed", nothing about the
# expiry), both after PAM's failure delay (the right one does not answer
# faster), each audited with its real reason.

. "$(dirname "$0")/lib.sh"

: "${CMD_TIMEOUT:=60}"
AUTHLOG=$DWELL_LOG_DIR/pam-auth.log
DLOG=$DWELL_LOG_DIR/dwelld.log

# pam_authenticate calls for TARGET by RUSER so far.
pam_attempts() { grep -c "^auth user=$1 ruser=$2 " "$AUTHLOG"; }
pam_attempts_target() { grep -c "^auth user=$1 " "$AUTHLOG"; }
# Audit lines (dwelld.log: no journal runs) of EVENT with caller and target.
audits() { grep "AUDIT $1:" "$DLOG" | grep " DWELL_CALLER=$2 " | grep -c " DWELL_OWNER=$3 "; }

# guess USER TARGET PASSWORD [KILL-AFTER]: dwell --json list --credential
# TARGET as USER, the password on stdin, no terminal; sets OUT ERR RC and
# SECS (wall time).
guess() {
        local f t0 t1
        f=$(mktemp -d "$DWELL_SANDBOX/guess.XXXXXX")
        chmod 0755 "$f"
        printf '%s\n' "$3" > "$f/in"
        chmod 0644 "$f/in"
        RC=0
        t0=$(date +%s.%N)
        as_user "$1" setsid -w dwell --json list --credential "$2" <"$f/in" >"$f/out" 2>"$f/err" || RC=$?
        t1=$(date +%s.%N)
        SECS=$(echo "$t1 - $t0" | bc)
        OUT=$(cat "$f/out")
        ERR=$(cat "$f/err")
        rm -rf "$f"
}

# ------------------------------------------------------------ the attack
# The 60 clients are started first and wait at a barrier, so that all of
# them connect within a moment; all are killed together 3 s later.
dir=$DWELL_SANDBOX/attack
install -d -m 0755 "$dir"
# The right password comes last: it is behind 59 wrong guesses, as an
# attacker's right guess usually is.
pids=()
for i in $(seq 1 60); do
        pw="guess-$i" go=$dir/go
        [ "$i" = 20 ] && pw=alice-pw go=$dir/go-late
        printf '%s\n' "$pw" > "$dir/in.$i"
        chmod 0644 "$dir/in.$i"
        ( RC=0
          as_user bob setsid -w sh -c 'n=0; while [ ! -e "$1" ] && [ $n -lt 600 ]; do sleep 0.05; n=$((n + 1)); done
                exec timeout -s KILL 30 dwell --json list --credential alice' sh "$go" \
                <"$dir/in.$i" >"$dir/out.$i" 2>"$dir/err.$i" || RC=$?
          echo "$RC" > "$dir/rc.$i" ) &
        pids+=($!)
        track_pid $!
done
sleep 2
dwelld_sockets() { find "/proc/$DWELLD_PID/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
base=$(dwelld_sockets)
t0=$(date +%s.%N)
touch "$dir/go"
# The right password comes last: once dwelld holds the 59 other connections
# (on a loaded machine starting 59 clients takes longer than any fixed pause).
wait_for "[ \$(dwelld_sockets) -ge $((base + 59)) ]" 30 ||
        echo "# dwelld holds $(( $(dwelld_sockets) - base )) new sockets, not 59, when the right password goes"
touch "$dir/go-late"
# Nobody is killed before all are (below): the right one is not left alone.
wait_for "[ \$(dwelld_sockets) -ge $((base + 60)) ]" 10 ||
        echo "# dwelld holds $(( $(dwelld_sockets) - base )) new sockets, not 60, before the kill"
sleep "$(echo "$t0 + 3 - $(date +%s.%N)" | bc | awk '{ v = $1 + 0; printf "%.3f\n", (v > 0 ? v : 0) }')"
pkill -KILL -u bob -x dwell
for p in "${pids[@]}"; do wait "$p"; done
echo "# the 60 clients were done $(echo "$(date +%s.%N) - $t0" | bc) s after the start"
ok=0
for i in $(seq 1 60); do
        [ "$(cat "$dir/rc.$i" 2>/dev/null)" = 0 ] && ok=$((ok + 1))
done
expect_eq "$ok" 0 "attack: none of bob's 60 guesses for alice succeeded (the right one among them)"

# The attempt still in flight ends on its own (prompt timeout at most);
# then every request has its audit record.
if wait_for "[ \$(audits auth-failed bob alice) -ge 60 ]" 45; then
        pass "attack: all 60 requests are audited as auth-failed (caller bob, target alice)"
else
        fail "attack: all 60 requests are audited as auth-failed (caller bob, target alice)" \
                "auth-failed records: $(audits auth-failed bob alice)"
fi
sleep 1
expect_eq "$(audits auth-failed bob alice)" 60 "  ... exactly once each"
expect_eq "$(audits auth-succeeded bob alice)" 0 "  ... and none succeeded"
# Within 3 s: the first attempt (PAM's failure delay, 1..3 s), then the
# caller's delay (1 s) before the second one; a third could not start.
n=$(pam_attempts alice bob)
if [ "$n" -ge 1 ] && [ "$n" -le 3 ]; then
        pass "attack: only $n of the 60 guesses reached pam_authenticate (one at a time, delayed)"
else
        fail "attack: at most 3 of the 60 guesses reach pam_authenticate" "pam_authenticate calls: $n" \
                "$(head -5 "$AUTHLOG")"
fi
# Passwords pam_unix actually checked (and refused), from its own log.
tested=$(grep -c 'pam_unix(dwell:auth): authentication failure;.* ruser=bob .*user=alice' "$DWELL_LOG_DIR/syslog.log")
if [ "$tested" -ge 1 ] && [ "$tested" -le "$n" ]; then
        pass "attack: pam_unix checked (and refused) $tested of the guesses; its own log names the caller (ruser=bob)"
else
        fail "attack: pam_unix checked 1..$n of the guesses, its log naming the caller" "$tested checked" \
                "$(grep 'pam_unix(dwell:auth)' "$DWELL_LOG_DIR/syslog.log" | head -3)"
fi
expect_eq "$(pam_attempts_target alice)" "$n" "PAM_RUSER is the caller: every attempt for alice has ruser=bob"
expect_match "$(grep 'AUDIT auth-failed:.*DWELL_CALLER=bob' "$DLOG" | head -1)" 'DWELL_REASON=' \
        "  ... the records say why"
expect_match "$(grep -c 'client left' "$DLOG")" '^[1-9]' "  ... also for the requests whose client left"

# ------------------------------------------------------------ the lock-out
# bob's failures so far count for alice (at most 3 of 5); carol is a new target.
before=$(pam_attempts carol bob)
for i in 1 2 3 4 5; do
        guess bob carol "wrong-$i"
        [ "$(json_eval "$OUT" 'd["error"]' 2>/dev/null)" = auth-failed ] ||
                fail "bob: wrong password $i for carol gives auth-failed" "$(_last)"
done
expect_eq "$(( $(pam_attempts carol bob) - before ))" 5 "bob: 5 wrong passwords for carol, 5 PAM attempts"
guess bob carol carol-pw
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>/dev/null)" auth-failed "bob is now locked out of carol: the right password is refused"
expect_match "$(json_eval "$OUT" 'd["message"]' 2>/dev/null)" 'locked out' "  ... saying so"
expect_eq "$(( $(pam_attempts carol bob) - before ))" 5 "  ... without running PAM"
expect_match "$(grep 'AUDIT auth-failed:.*DWELL_CALLER=bob' "$DLOG" | grep 'DWELL_OWNER=carol' | tail -1)" \
        'locked out' "  ... and audited"
guess alice carol carol-pw
expect_rc 0 "alice is not locked out of carol (right password: success)"
guess bob alice alice-pw
expect_rc 0 "bob is not locked out of alice (right password: success, after his delay)"
expect_eq "$(audits auth-succeeded bob alice)" 1 "  ... audited as auth-succeeded"

# ------------------------------------------------------------ an expired account
# Two callers with no failures of their own (no delay of dwelld's): the
# right password and a wrong one for dave, whose account has expired.
guess alice dave dave-pw
right_rc=$RC right_out=$OUT right_err=$ERR right_secs=$SECS
guess carol dave wrong-pw
wrong_rc=$RC wrong_out=$OUT wrong_err=$ERR wrong_secs=$SECS
echo "# dave: right password $right_secs s ($right_out), wrong password $wrong_secs s ($wrong_out)"
if [ "$right_rc" -ne 0 ] && [ "$right_rc" = "$wrong_rc" ]; then
        pass "dave (expired): the right and a wrong password both fail, with the same exit status"
else
        fail "dave (expired): the right and a wrong password both fail, with the same exit status" \
                "right: $right_rc, wrong: $wrong_rc"
fi
expect_eq "$(json_eval "$right_out" 'd["error"] + ": " + d["message"]' 2>&1)" \
        "auth-failed: authentication as dave failed" "  ... the right one: auth-failed, the generic message"
expect_eq "$(json_eval "$wrong_out" 'd["error"] + ": " + d["message"]' 2>&1)" \
        "auth-failed: authentication as dave failed" "  ... the wrong one: the same"
expect_no_match "$right_err" '[Ee]xpired' "  ... nothing tells the caller about the expiry"
# PAM's failure delay (pam_unix: 2 s, randomised by libpam to 1..3 s) for both.
if [ "$(echo "$right_secs >= 0.9" | bc)" = 1 ] && [ "$(echo "$wrong_secs >= 0.9" | bc)" = 1 ]; then
        pass "  ... both after PAM's failure delay (right ${right_secs}s, wrong ${wrong_secs}s)"
else
        fail "  ... both after PAM's failure delay" "right ${right_secs}s, wrong ${wrong_secs}s"
fi
expect_match "$(grep 'AUDIT auth-failed:' "$DLOG" | grep 'DWELL_CALLER=alice' | grep 'DWELL_OWNER=dave')" \
        'refuses the account' "  ... the audit record has the real reason (account refused after a right password)"
