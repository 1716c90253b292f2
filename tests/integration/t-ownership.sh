#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-ownership.sh — who may do what with a session: every verb (list,
# connect, receive, invoke, disconnect, remove) against every kind of
# caller, from a table of expected outcomes.
#
# The sessions belong to alice.  Configurations (t-ownership.d/): default
# (everyone) and share (run_as carol, access users alice and bob,
# share_with_access: true); dwelld.yaml makes group admins (carol) admins.
# A fifth user, erin, is added to the sandbox's user database here: a plain
# user outside share's access list (dave cannot serve: his account is
# expired, so PAM refuses him everything).
#
# Callers (each gets a fresh session of alice's, of the configuration named):
#   owner     alice                                    default
#   other     bob                                      default
#   cred-ok   bob --credential alice, password right   default
#   cred-bad  bob --credential alice, password wrong   default
#   sharer    bob                                      share
#   outsider  erin                                     share
#   admin     carol (admins), list --all-users         default
#   root      root, list --all-users                   default
#
# An outcome is "allow" or "deny:CODE[|CODE]".  A denial that hides the
# session must be not-found with the very message a nonexistent session
# gets; a wrong password is auth-failed.  remove is checked against what
# is left: an "allow" must make the session disappear, a "deny" must leave
# it.  The test ends with the matrix and the counts of unexpected allows
# (must be 0) and unexpected denies.  Passwords go through stdin, with no
# controlling terminal (setsid).

. "$(dirname "$0")/lib.sh"

: "${CMD_TIMEOUT:=40}"

# -- erin ------------------------------------------------------------------------
# The sandbox's /etc files are bind-mounted copies: append in place.
if ! getent passwd erin >/dev/null; then
        echo "erin:x:2005:2005:dwell test user erin:/home/erin:/bin/bash" >> /etc/passwd
        echo "erin:x:2005:" >> /etc/group
        echo "erin:$(openssl passwd -6 erin-pw):$(( $(date +%s) / 86400 )):0:99999:7:::" >> /etc/shadow
        [ -f /etc/gshadow ] && echo "erin:!::" >> /etc/gshadow
        install -d -m 0755 -o 2005 -g 2005 /home/erin
fi
getent passwd erin >/dev/null && pass "sandbox user erin exists" || fail "sandbox user erin exists"

verbs="list connect receive invoke disconnect remove"
credargs=()

#   kind      user   credential password  config  list-flags
callers="
owner     alice  -      -         default -
other     bob    -      -         default -
cred-ok   bob    alice  alice-pw  default -
cred-bad  bob    alice  wrong-pw  default -
sharer    bob    -      -         share   -
outsider  erin   -      -         share   -
admin     carol  -      -         default --all-users
root      root   -      -         default --all-users
"

hidden='deny:not-found'
# kind: expected outcome of list connect receive invoke disconnect remove
declare -A expect=(
        [owner]="allow allow allow allow allow allow"
        [other]="$hidden $hidden $hidden $hidden $hidden $hidden"
        [cred-ok]="allow allow allow allow allow allow"
        [cred-bad]="deny:auth-failed deny:auth-failed deny:auth-failed deny:auth-failed deny:auth-failed deny:auth-failed"
        [sharer]="allow allow allow allow allow allow"
        [outsider]="$hidden $hidden $hidden $hidden $hidden $hidden"
        [admin]="allow deny:not-found|permission-denied deny:not-found|permission-denied deny:not-found|permission-denied deny:not-found|permission-denied allow"
        [root]="allow deny:not-found|permission-denied deny:not-found|permission-denied deny:not-found|permission-denied deny:not-found|permission-denied allow"
)

# call USER INPUT VERB ARGS...: dwell --json VERB [--credential ...] ARGS as
# USER in a new session (no controlling terminal) with INPUT on stdin; the
# options in the array credargs go right after VERB (before invoke's "--").
# Sets OUT, ERR, RC.
call() {
        local user=$1 input=$2 verb=$3 f
        shift 3
        f=$(mktemp -d "$DWELL_SANDBOX/call.XXXXXX")
        printf '%s' "$input" > "$f/in"
        chmod 0644 "$f/in"
        RC=0
        as_user "$user" setsid -w dwell --json "$verb" ${credargs[@]+"${credargs[@]}"} "$@" <"$f/in" >"$f/out" 2>"$f/err" || RC=$?
        OUT=$(cat "$f/out")
        ERR=$(cat "$f/err")
        rm -rf "$f"
}

# exists ID: alice (the owner) still has session ID.
exists() {
        [ "$(json_eval "$(as_user alice dwell --json list "$1")" 'len(d)' 2>/dev/null)" = 1 ]
}

# verb_args VERB ID LISTFLAGS: the arguments of VERB on session ID.
verb_args() {
        case $1 in
        list)       if [ "$3" = - ]; then echo "list"; else echo "list $3"; fi;;
        connect)    echo "connect $2";;
        receive)    echo "receive $2 --no-wait";;
        invoke)     echo "invoke $2 -- true";;
        disconnect) echo "disconnect $2";;
        remove)     echo "remove $2";;
        esac
}

unexpected_allows=0
unexpected_denies=0
matrix=$(printf '%-9s' caller; for v in $verbs; do printf ' %-18s' "$v"; done; echo)

while read -r kind user cred pw cfg listflags; do
        [ -n "$kind" ] || continue
        credargs=()
        call alice "" new -n "own-$kind" -c "$cfg"
        id=$(json_eval "$OUT" 'd["id"]' 2>/dev/null)
        if [ "$RC" -ne 0 ] || [ -z "$id" ]; then
                fail "$kind: alice creates a session of $cfg" "$(printf 'rc=%s\n%s\n%s' "$RC" "$OUT" "$ERR")"
                continue
        fi
        input=
        if [ "$cred" != - ]; then
                credargs=(--credential "$cred")
                input="$pw"$'\n'
        fi
        row=$(printf '%-9s' "$kind")
        set -- ${expect[$kind]}
        for verb in $verbs; do
                want=$1
                shift
                # shellcheck disable=SC2046
                call "$user" "$input" $(verb_args "$verb" "$id" "$listflags")
                got=
                if [ "$RC" -eq 0 ]; then
                        got=allow
                        if [ "$verb" = list ]; then
                                [ "$(json_eval "$OUT" "len([s for s in d if s['id'] == $id])" 2>/dev/null)" = 1 ] ||
                                        got=deny:not-listed
                        fi
                else
                        code=$(json_eval "$OUT" 'd["error"]' 2>/dev/null) || code="rc$RC"
                        got=deny:$code
                fi
                if [ "$verb" = remove ]; then
                        if exists "$id"; then
                                [ "$got" = allow ] && got=deny:remove-left-it
                        else
                                [ "$got" != allow ] && got="allow(removed-despite-$got)"
                        fi
                fi
                # A hidden session: "not listed" is the denial of list.
                [ "$verb" = list ] && [ "$got" = deny:not-listed ] && [ "$want" = "$hidden" ] && got=$hidden

                ok=0
                if [ "$want" = allow ]; then
                        [ "$got" = allow ] && ok=1
                else
                        case "$got" in
                        deny:*)
                                IFS='|' read -ra codes <<< "${want#deny:}"
                                for c in "${codes[@]}"; do [ "$got" = "deny:$c" ] && ok=1; done;;
                        esac
                fi
                if [ "$ok" = 1 ]; then
                        pass "$kind ($user) $verb: $got"
                elif [ "$want" = allow ]; then
                        unexpected_denies=$((unexpected_denies + 1))
                        fail "$kind $verb: expected allow, got $got" "$(_last)"
                else
                        case "$got" in
                        allow*) unexpected_allows=$((unexpected_allows + 1));;
                        *) unexpected_denies=$((unexpected_denies + 1));;
                        esac
                        fail "$kind $verb: expected $want, got $got" "$(_last)"
                fi

                # A hidden session must look exactly like a nonexistent one.
                if [ "$want" = "$hidden" ] && [ "$verb" != list ] && [ "$got" = "$hidden" ]; then
                        msg=$(json_eval "$OUT" 'd["message"]' 2>/dev/null | sed "s/\b$id\b/ID/g")
                        # shellcheck disable=SC2046
                        call "$user" "$input" $(verb_args "$verb" 4000000 -)
                        msg0=$(json_eval "$OUT" 'd["message"]' 2>/dev/null | sed "s/\b4000000\b/ID/g")
                        expect_eq "$msg" "$msg0" "  ... the same message as for a nonexistent session"
                fi
                row+=$(printf ' %-18s' "$got")
        done
        matrix+=$'\n'"$row"
        exists "$id" && as_user alice dwell remove "$id" >/dev/null 2>&1
done <<< "$callers"

# list --all-users is for root and admins only.
credargs=()
call bob "" list --all-users
expect_eq "$(json_eval "$OUT" 'd["error"]' 2>&1)" permission-denied "bob: list --all-users: permission-denied"
call carol "" list
expect_eq "$(json_eval "$OUT" 'len(d)' 2>&1)" 0 "carol (admin): plain list shows only carol's own sessions (none)"

# One command, several requests, one password: remove A B --credential.
call alice "" new -n multi-a
call alice "" new -n multi-b
credargs=(--credential alice)
call bob $'alice-pw\n' remove multi-a multi-b
credargs=()
expect_rc 0 "bob: remove multi-a multi-b --credential alice, one password line on stdin"
expect_match "$ERR" '[Pp]assword' "  ... the PAM prompt went to stderr (no terminal)"
[ "$(json_eval "$(as_user alice dwell --json list)" 'len([s for s in d if s["name"].startswith("multi-")])' 2>&1)" = 0 ] &&
        pass "  ... both sessions are gone" || fail "  ... both sessions are gone"

echo "# outcomes (rows: callers; columns: verbs):"
printf '%s\n' "$matrix" | sed 's/^/#   /'
echo "# unexpected allows: $unexpected_allows, unexpected denies: $unexpected_denies"
expect_eq "$unexpected_allows" 0 "no unexpected allows"
expect_eq "$unexpected_denies" 0 "no unexpected denies"
