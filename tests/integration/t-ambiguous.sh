#!/bin/bash
# SPDX-License-Identifier: ISC
#
# t-ambiguous.sh — a session name resolves to the caller's own session
# first; a name that still matches several sessions the caller may act on
# is refused as `ambiguous`, listing their Ids with owners; names are
# unique per owner; an administrator's `remove NAME` resolves among the
# sessions of their `list --all-users`, own first.
#
# Configurations (t-ambiguous.d/): default (everyone) and share (run_as
# carol, access users alice, bob and carol, share_with_access: true);
# carol is in group admins, an administrator (dwelld.yaml).
#
#   - shadowing: bob creates `deploy` (his own, default), then alice creates
#     `deploy -c share` (which bob may use too): bob's `invoke deploy` runs
#     in his own session (as bob, not as carol), `remove deploy` removes his
#     own; only then does `deploy` name alice's shared session for him;
#   - names are unique per owner, not among what one sees: bob may create
#     `work` although alice's shared `work` is visible to him; a second
#     `new -n work` of his is refused;
#   - ambiguity: alice's and carol's shared `work` both visible to bob (and
#     bob has none): invoke, connect, receive, disconnect and remove by name
#     fail with `ambiguous` ("dwell: 'work' matches sessions A (alice) and
#     C (carol); use the Id", the JSON error code `ambiguous`), nothing
#     runs, nothing is removed; root's own (unshared) `work` is not in
#     that list; the Ids work;
#   - administrators: carol's `remove work` removes carol's own `work` even
#     though alice's, bob's and root's are there too; then, with several
#     left that `list --all-users` shows, `remove work` is ambiguous for
#     carol and for root resolves to root's own.

. "$(dirname "$0")/lib.sh"

# id_of USER NAME [OWNER]: the Id of the session NAME (of OWNER) that USER lists.
id_of() {
        local flags=
        [ "$1" = root ] || [ "$1" = carol ] && flags=--all-users
        dwell_json "$1" list $flags
        json_eval "$OUT" "[s['id'] for s in d if s['name'] == '$2' and s['owner'] == '${3:-$1}'][0]" 2>/dev/null
}
# all_work: "owner:id ..." of every session named work (root's view), sorted.
all_named() {
        dwell_json root list --all-users
        json_eval "$OUT" "' '.join(sorted('%s:%d' % (s['owner'], s['id']) for s in d if s['name'] == '$1'))"
}

# ------------------------------------------------------------- shadowing
capture bob dwell new -n deploy
expect_rc 0 "bob: new -n deploy (his own, configuration default)"
capture alice dwell new -n deploy -c share
expect_rc 0 "alice: new -n deploy -c share (bob may use it too)"
bob_deploy=$(id_of bob deploy)
alice_deploy=$(id_of alice deploy)

capture bob dwell invoke deploy -- 'id -un'
expect_rc 0 "bob: invoke deploy -- id -un"
expect_eq "$OUT" bob "  ... runs in bob's own deploy (as bob), not in alice's shared one (as carol)"
capture bob dwell receive deploy --no-wait
expect_rc 0 "bob: receive deploy (his own)"
capture bob dwell remove deploy
expect_rc 0 "bob: remove deploy"
expect_eq "$(all_named deploy)" "alice:$alice_deploy" "  ... removed bob's own ($bob_deploy); alice's shared deploy stays"
capture bob dwell invoke deploy -- 'id -un'
expect_eq "$RC:$OUT" "0:carol" "now bob's only match for deploy is alice's shared session (runs as carol)"
capture alice dwell remove deploy
expect_rc 0 "alice: remove deploy"

# --------------------------------------------------- unique per owner
capture alice dwell new -n work -c share
expect_rc 0 "alice: new -n work -c share"
alice_work=$(id_of alice work)
capture bob dwell new -n work
expect_rc 0 "bob: new -n work although alice's shared work is visible to him"
bob_work=$(id_of bob work)
dwell_json bob new -n work
expect_eq "$RC:$(json_eval "$OUT" 'd["error"]' 2>&1)" "255:invalid-argument" "bob: a second new -n work is refused (invalid-argument)"
expect_match "$(json_eval "$OUT" 'd["message"]' 2>&1)" "already" "  ... saying the name is already used"
capture bob dwell invoke work -- 'id -un'
expect_eq "$RC:$OUT" "0:bob" "bob: invoke work runs in his own work"
capture alice dwell invoke work -- 'id -un'
expect_eq "$RC:$OUT" "0:carol" "alice: invoke work runs in her own (shared) work"
capture bob dwell remove work
expect_rc 0 "bob: remove work"
expect_eq "$(all_named work)" "alice:$alice_work" "  ... removed bob's own; alice's stays"

# ------------------------------------------------------------- ambiguity
capture carol dwell new -n work -c share
expect_rc 0 "carol: new -n work -c share"
carol_work=$(id_of carol work)
capture root dwell new -n work
expect_rc 0 "root: new -n work (not shared)"
root_work=$(id_of root work)
echo "# work: alice $alice_work, carol $carol_work, root $root_work"
lo=$alice_work hi=$carol_work lo_o=alice hi_o=carol
if [ "$carol_work" -lt "$alice_work" ]; then lo=$carol_work hi=$alice_work lo_o=carol hi_o=alice; fi
want="dwell: 'work' matches sessions $lo ($lo_o) and $hi ($hi_o); use the Id"

capture bob dwell invoke work -- 'echo ran; id -un'
expect_eq "$RC" 255 "bob: invoke work (alice's and carol's shared work visible, none of his own) fails"
expect_eq "$ERR" "$want" "  ... with one line listing both Ids with owners"
expect_no_match "$OUT" ran "  ... and nothing ran"
expect_no_match "$ERR" "\b$root_work \(root\)" "  ... root's unshared work is not revealed"
dwell_json bob invoke work -- 'echo ran'
expect_eq "$RC:$(json_eval "$OUT" 'd["error"]' 2>&1)" "255:ambiguous" "bob: --json invoke work: error ambiguous"
expect_eq "dwell: $(json_eval "$OUT" 'd["message"]' 2>&1)" "$want" "  ... the JSON message lists the Ids too"
for verb in "connect work" "receive work --no-wait" "disconnect work" "remove work"; do
        dwell_json bob $verb
        expect_eq "$RC:$(json_eval "$OUT" 'd["error"]' 2>&1)" "255:ambiguous" "bob: $verb: ambiguous"
done </dev/null
expect_eq "$(all_named work)" "alice:$alice_work carol:$carol_work root:$root_work" "  ... nothing was removed"
capture bob dwell invoke "$carol_work" -- 'id -un; echo ok'
expect_eq "$RC:$(echo $OUT)" "0:carol ok" "bob: invoke $carol_work (carol's, by Id) works"
capture alice dwell invoke work -- 'echo mine'
expect_eq "$RC:$OUT" "0:mine" "alice: invoke work is her own (own first), carol's visible one does not make it ambiguous"

# --------------------------------------------------------- administrators
capture bob dwell new -n work
expect_rc 0 "bob: new -n work again"
bob_work=$(id_of bob work)
dwell_json carol list --all-users
n=$(json_eval "$OUT" "len([s for s in d if s['name'] == 'work'])")
expect_eq "$n" 4 "carol (admin): list --all-users shows 4 sessions named work"
capture carol dwell remove work
expect_rc 0 "carol (admin): remove work"
expect_eq "$(all_named work)" "$(printf '%s\n' "alice:$alice_work" "bob:$bob_work" "root:$root_work" | sort | tr '\n' ' ' | sed 's/ $//')" \
        "  ... removed her own work ($carol_work), no one else's"
dwell_json carol remove work
expect_eq "$RC:$(json_eval "$OUT" 'd["error"]' 2>&1)" "255:ambiguous" "carol: remove work again: ambiguous (alice's, bob's, root's)"
msg=$(json_eval "$OUT" 'd["message"]' 2>&1)
expect_match "$msg" "\b$alice_work \(alice\)" "  ... lists alice's"
expect_match "$msg" "\b$bob_work \(bob\)" "  ... lists bob's"
expect_match "$msg" "\b$root_work \(root\)" "  ... lists root's (carol's listing shows it)"
expect_eq "$(all_named work | wc -w)" 3 "  ... nothing was removed"
capture root dwell remove work
expect_rc 0 "root: remove work"
expect_eq "$(all_named work)" "alice:$alice_work bob:$bob_work" "  ... removed root's own"
capture carol dwell remove "$bob_work"
expect_rc 0 "carol: remove $bob_work (by Id)"
expect_eq "$(all_named work)" "alice:$alice_work" "  ... removed exactly bob's"
capture carol dwell remove work
expect_rc 0 "carol: remove work, one left in her listing"
expect_eq "$(all_named work)" "" "  ... alice's is gone too"
