# SPDX-License-Identifier: ISC
# shellcheck shell=bash
#
# ssh-lib.sh — a real sshd (Debian's openssh-server) inside the test sandbox,
# for the remote-use tests (t-remote*.sh) and bench/remote.sh.
#
#   ssh_private_net "$0" "$@"   first thing in a test, before lib.sh: runs the
#                          script again in a private network namespace (only
#                          loopback, brought up), so sshd can listen on
#                          127.0.0.x:22 without touching the host's network.
#                          dwelld's socket is a file: it is reachable from
#                          there as before.
#   sshd_start NAME ADDR [PORT]  starts `sshd -D -e` with its own host key and
#                          config ($SSH_DIR/NAME/): key logins only, UsePAM
#                          no, StrictModes no, the `dwell` subsystem
#                          ($DWELL_LIBEXECDIR/dwell-bridge), authorized keys
#                          from $SSH_DIR/authorized/%u; waits until it
#                          listens; its pid in SSHD_PID[NAME], log in
#                          $DWELL_LOG_DIR/sshd-NAME.log.  NO_SUBSYSTEM=1: no
#                          Subsystem line; SSHD_EXTRA: more config lines
#                          (e.g. "SetEnv DWELL_SOCKET=..." for a second dwelld);
#                          SSHD_NETNS_PID: run it in that process's network
#                          namespace (nsenter -n), e.g. behind a veth link a
#                          test can cut (t-reconnect-ssh.sh).
#   far_host NAME NET IF   a host behind a link a test can cut: a network
#                          namespace held by a sleeping process (its pid in
#                          FAR_NS_PID), a veth pair IF0 (here, NET.1/24) and
#                          IF1 (there, NET.2/24), and sshd NAME on NET.2:22
#                          in it; `far_link up|down` raises or cuts the link
#                          (t-reconnect-*.sh, bench/reconnect.sh).
#   ssh_user_key USER KEY  generates /home/USER/.ssh/KEY (ed25519) and
#                          authorizes it for USER
#   ssh_client_config USER FILE KEY [HOST-ALIAS ADDR PORT]...
#                          writes an ssh_config for USER (BatchMode, its own
#                          known_hosts, accept-new, only KEY), with a Host
#                          block per alias
#
# Needs lib.sh (track_pid, fail) and ns-run.sh's environment.

SSH_DIR=${DWELL_SANDBOX:-/run/dwell-sandbox}/ssh
declare -A SSHD_PID=()

ssh_private_net() {
        local script=$1
        shift
        if [ "${DWELL_TEST_NETNS:-}" != 1 ]; then
                command -v unshare >/dev/null || { echo "SKIP: no unshare" >&2; exit 77; }
                exec unshare --net -- env DWELL_TEST_NETNS=1 /bin/bash "$script" "$@"
        fi
        ip link set lo up || { echo "ssh-lib.sh: cannot bring up lo" >&2; exit 99; }
}

_ssh_prereq() {
        [ -x /usr/sbin/sshd ] || { echo "SKIP: /usr/sbin/sshd not installed (openssh-server)" >&2; exit 77; }
        command -v ssh >/dev/null || { echo "SKIP: ssh not installed" >&2; exit 77; }
        install -d -m 0755 "$SSH_DIR" "$SSH_DIR/authorized"
        # The privilege separation directory, in the sandbox's /run.
        install -d -m 0755 -o root -g root /run/sshd
}

sshd_start() {
        local name=$1 addr=$2 port=${3:-22} d i
        _ssh_prereq
        d=$SSH_DIR/$name
        install -d -m 0700 "$d"
        [ -f "$d/host_ed25519" ] || ssh-keygen -q -t ed25519 -N '' -C "dwell-test-$name" -f "$d/host_ed25519"
        {
                echo "# dwell test sshd $name"
                echo "ListenAddress $addr:$port"
                echo "HostKey $d/host_ed25519"
                echo "PidFile none"
                echo "UsePAM no"
                echo "StrictModes no"
                echo "PubkeyAuthentication yes"
                echo "PasswordAuthentication no"
                echo "KbdInteractiveAuthentication no"
                echo "AuthorizedKeysFile $SSH_DIR/authorized/%u"
                echo "AllowUsers alice bob carol"
                echo "PermitRootLogin no"
                echo "X11Forwarding no"
                echo "PrintMotd no"
                echo "UseDNS no"
                echo "LogLevel VERBOSE"
                if [ -n "${SSHD_EXTRA:-}" ]; then
                        echo "$SSHD_EXTRA"
                fi
                if [ "${NO_SUBSYSTEM:-0}" != 1 ]; then
                        echo "Subsystem dwell $DWELL_LIBEXECDIR/dwell-bridge"
                fi
        } > "$d/sshd_config"
        /usr/sbin/sshd -t -f "$d/sshd_config" || { fail "sshd $name: config check"; return 1; }
        ${SSHD_NETNS_PID:+nsenter -t "$SSHD_NETNS_PID" -n} \
                /usr/sbin/sshd -D -e -f "$d/sshd_config" 2>>"$DWELL_LOG_DIR/sshd-$name.log" </dev/null &
        SSHD_PID[$name]=$!
        track_pid "${SSHD_PID[$name]}"
        for ((i = 0; i < 100; i++)); do
                if (exec 3<>"/dev/tcp/$addr/$port") 2>/dev/null; then
                        return 0
                fi
                sleep 0.05
        done
        fail "sshd $name listens on $addr:$port" "$(tail -n 20 "$DWELL_LOG_DIR/sshd-$name.log")"
        return 1
}

far_host() {
        local name=$1 net=$2 ifname=$3
        unshare --net sleep 3600 &
        FAR_NS_PID=$!
        track_pid "$FAR_NS_PID"
        FAR_IF=${ifname}0
        sleep 0.2
        ip link add "$FAR_IF" type veth peer name "${ifname}1" netns "$FAR_NS_PID" &&
                ip addr add "$net.1/24" dev "$FAR_IF" &&
                ip link set "$FAR_IF" up ||
                { fail "far host $name: the veth pair"; return 1; }
        nsenter -t "$FAR_NS_PID" -n sh -c \
                "ip link set lo up && ip addr add $net.2/24 dev ${ifname}1 && ip link set ${ifname}1 up" ||
                { fail "far host $name: the far side of the veth pair"; return 1; }
        SSHD_NETNS_PID=$FAR_NS_PID sshd_start "$name" "$net.2" 22
}

far_link() { ip link set "$FAR_IF" "$1"; }

ssh_user_key() {
        local user=$1 key=$2 home
        home=$(getent passwd "$user" | cut -d: -f6)
        install -d -m 0700 -o "$user" -g "$user" "$home/.ssh"
        if [ ! -f "$home/.ssh/$key" ]; then
                ssh-keygen -q -t ed25519 -N '' -C "$user-$key" -f "$home/.ssh/$key"
                chown "$user:$user" "$home/.ssh/$key" "$home/.ssh/$key.pub"
        fi
        cat "$home/.ssh/$key.pub" >> "$SSH_DIR/authorized/$user"
        chmod 0644 "$SSH_DIR/authorized/$user"
}

ssh_client_config() {
        local user=$1 file=$2 key=$3 home
        shift 3
        home=$(getent passwd "$user" | cut -d: -f6)
        {
                while [ $# -ge 3 ]; do
                        echo "Host $1"
                        echo "  HostName $2"
                        echo "  Port $3"
                        shift 3
                done
                echo "Host *"
                echo "  User $user"
                echo "  IdentityFile $home/.ssh/$key"
                echo "  IdentitiesOnly yes"
                echo "  UserKnownHostsFile $home/.ssh/known_hosts"
                echo "  StrictHostKeyChecking accept-new"
                echo "  BatchMode yes"
                echo "  LogLevel ERROR"
                echo "  ConnectTimeout 5"
        } > "$file"
        chown "$user:$user" "$file"
        chmod 0600 "$file"
}
