#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench.py — the dwell benchmark harness (see bench/README.md).

    bench.py inside [--quick] [--only GROUPS] --out RAW.json
                                                  (root, inside ns-run.sh's sandbox)
    bench.py driver PARAMS-JSON                   (the test user; started by `inside`)
    bench.py report --raw RAW.json [--remote FILE] [--reconnect FILE] [--fleet FILE] --outdir DIR   (anywhere)

`inside` starts `driver` as alice and answers its requests for the PSS of
processes it cannot read (the root monitors, the non-dumpable workers); the
driver runs every timed case with posix_spawn (no shell, no fork of the
Python process) and prints its results as the last JSON line on stdout.
"""

import json
import os
import random
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

ME = os.path.abspath(__file__)
WORK = "/tmp/bench"
USER = "alice"
MiB = 1024 * 1024
GiB = 1024 * MiB


def params(quick):
    if quick:
        return dict(quick=True, rounds_create=8, rounds_invoke=15, rounds_replay=6,
                    rounds_tput=3, tput_bytes=128 * MiB, pty_bytes=4 * MiB,
                    rounds_pty=2, replay_bytes=4 * MiB, scale_n=[20, 100], list_runs=5)
    return dict(quick=False, rounds_create=30, rounds_invoke=60, rounds_replay=20,
                rounds_tput=5, tput_bytes=1 * GiB, pty_bytes=32 * MiB,
                rounds_pty=3, replay_bytes=4 * MiB, scale_n=[10, 100, 1000], list_runs=15)


def log(msg):
    sys.stderr.write("[bench %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


# ======================================================================= /proc

def proc_stat(pid):
    """(comm, ppid, uid) of pid, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
        st = os.stat("/proc/%d" % pid)
    except OSError:
        return None
    comm = s[s.index("(") + 1:s.rindex(")")]
    ppid = int(s[s.rindex(")") + 2:].split()[1])
    return comm, ppid, st.st_uid


def all_procs():
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            st = proc_stat(int(d))
            if st:
                out[int(d)] = st
    return out


def cmdline(pid):
    try:
        with open("/proc/%d/cmdline" % pid, "rb") as f:
            return f.read().split(b"\0")
    except OSError:
        return []


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


# ======================================================================= inside (root)

GROUPS = ("create", "invoke", "replay", "tput", "pty", "bash", "scaling")


def cmd_inside(argv):
    quick = "--quick" in argv
    out = argv[argv.index("--out") + 1]
    p = params(quick)
    if "--only" in argv:
        # Possibly empty: scripts/bench.sh --only remote runs no local group.
        only = [g for g in argv[argv.index("--only") + 1].split(",") if g]
        bad = [g for g in only if g not in GROUPS]
        if bad:
            log("unknown group(s) %s; the groups are %s" % (", ".join(bad), ", ".join(GROUPS)))
            return 2
        p["only"] = only
    os.makedirs(WORK, exist_ok=True)
    import pwd
    pw = pwd.getpwnam(USER)
    os.chown(WORK, pw.pw_uid, pw.pw_gid)
    os.chmod(WORK, 0o755)
    shutil.copy(ME, WORK + "/bench.py")
    os.chmod(WORK + "/bench.py", 0o644)
    bindir = os.environ.get("DWELL_BIN_DIR", "/run/dwell-sandbox/bin")
    env_path = bindir + ":/usr/local/bin:/usr/bin:/bin"
    p["dwell"] = bindir + "/dwell"
    cmd = ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--reset-env",
           "env", "HOME=" + pw.pw_dir, "USER=" + USER, "LOGNAME=" + USER, "SHELL=/bin/bash",
           "PATH=" + env_path, "LANG=C.UTF-8", "TERM=xterm", "SCREENDIR=" + WORK + "/screen",
           "/usr/bin/python3", WORK + "/bench.py", "driver", json.dumps(p)]
    dwelld_pid = int(os.environ.get("DWELLD_PID", "0") or 0)
    log("driver starts as %s (quick=%s)" % (USER, quick))
    drv = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=pw.pw_dir,
                           text=True, bufsize=1)
    results = None
    try:
        for line in drv.stdout:
            req = json.loads(line)
            if req.get("op") == "pss":
                ans = {str(pid): pss_kib(pid) for pid in req["pids"]}
                drv.stdin.write(json.dumps({"pss": ans}) + "\n")
                drv.stdin.flush()
            elif req.get("op") == "dwelld_pid":
                drv.stdin.write(json.dumps({"pid": dwelld_pid}) + "\n")
                drv.stdin.flush()
            elif req.get("op") == "results":
                results = req["results"]
    finally:
        rc = drv.wait()
    if results is None:
        log("the driver ended (exit %d) without results" % rc)
        return 1
    results["sandbox"] = {"dwelld_pid": dwelld_pid}
    logdir = os.environ.get("DWELL_LOG_DIR")
    if logdir and os.path.exists(logdir + "/dwelld.log"):
        try:
            shutil.copy(logdir + "/dwelld.log", os.path.join(os.path.dirname(out), "dwelld.log"))
        except OSError as e:
            log("cannot keep dwelld's log: %s" % e)
    with open(out, "w") as f:
        json.dump(results, f, indent=1)
    log("raw results in %s" % out)
    return 0 if rc == 0 else rc


# ======================================================================= driver (alice)

class Driver:
    def __init__(self, p):
        self.p = p
        self.dwell = p["dwell"]
        self.env = dict(os.environ)
        self.exe_cache = {}
        self.errors = []
        self.res = {"params": p, "groups": {}, "scaling": {}, "checks": {}, "errors": self.errors}
        self.rng = random.Random(6)
        self.W = WORK
        for d in ("dt", "screen", "out", "err"):
            os.makedirs(os.path.join(WORK, d), mode=0o700, exist_ok=True)
        self.pids_to_kill = set()

    # ---------------------------------------------------------- talking to root
    def ask(self, req):
        sys.stdout.write(json.dumps(req) + "\n")
        sys.stdout.flush()
        return json.loads(sys.stdin.readline())

    # ---------------------------------------------------------- spawning
    def exe(self, name):
        if name not in self.exe_cache:
            path = name if "/" in name else shutil.which(name, path=self.env["PATH"])
            if not path:
                raise RuntimeError("%s not found" % name)
            self.exe_cache[name] = path
        return self.exe_cache[name]

    def spawn(self, argv, stdin="/dev/null", stdout="/dev/null", stderr=None):
        """Runs argv without a shell; returns (seconds, exit status)."""
        if stderr is None:
            stderr = os.path.join(WORK, "err", "stderr.log")
        fa = [(os.POSIX_SPAWN_OPEN, 0, stdin, os.O_RDONLY, 0),
              (os.POSIX_SPAWN_OPEN, 1, stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
              (os.POSIX_SPAWN_OPEN, 2, stderr, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)]
        path = self.exe(argv[0])
        t0 = time.perf_counter()
        pid = os.posix_spawn(path, argv, self.env, file_actions=fa)
        _, st = os.waitpid(pid, 0)
        t1 = time.perf_counter()
        return t1 - t0, os.waitstatus_to_exitcode(st)

    def run(self, argv, **kw):
        """Untimed helper: runs argv, raises on failure, returns stdout."""
        r = subprocess.run(argv, env=self.env, stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=kw.get("timeout", 120))
        if r.returncode != 0 and not kw.get("check") is False:
            raise RuntimeError("%s: exit %d: %s" % (" ".join(argv), r.returncode, r.stderr.strip()))
        return r.stdout

    def steps(self, *steps):
        """Runs the steps one after another; each is (argv, {spawn kwargs}).
        Returns the summed time; a failing step raises (unless its kwargs
        say any_rc)."""
        total = 0.0
        for argv, kw in steps:
            kw = dict(kw)
            any_rc = kw.pop("any_rc", False)
            t, rc = self.spawn(argv, **kw)
            if rc != 0 and not any_rc:
                raise RuntimeError("%s: exit %d" % (" ".join(argv)[:120], rc))
            total += t
        return total

    # ---------------------------------------------------------- helpers
    def dwell_json(self, *args):
        return json.loads(self.run([self.dwell, "--json"] + list(args)))

    def wait_idle(self, session, want_buffered=None, timeout=120):
        t_end = time.time() + timeout
        while time.time() < t_end:
            d = self.dwell_json("list", session)[0]
            if d["command"] is None and (want_buffered is None or d["buffered"] >= want_buffered):
                return d
            time.sleep(0.05)
        raise RuntimeError("session %s did not become idle" % session)

    def wait_for(self, fn, timeout=5):
        """fn()'s first true value, polled (a daemon's pid appears shortly
        after the command that started it returns)."""
        t_end = time.time() + timeout
        while True:
            v = fn()
            if v or time.time() > t_end:
                return v
            time.sleep(0.01)

    def kill_pids(self, pids, what):
        pids = [p for p in pids if p]
        for p in pids:
            try:
                os.kill(p, signal.SIGTERM)
            except ProcessLookupError:
                pass
        t_end = time.time() + 5
        for p in pids:
            while time.time() < t_end:
                # gone, or a zombie waiting for init to reap it
                try:
                    with open("/proc/%d/stat" % p) as f:
                        if f.read().rsplit(")", 1)[1].split()[0] == "Z":
                            break
                except OSError:
                    break
                time.sleep(0.02)
            if proc_stat(p) is not None:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def dtach_master(self, sock):
        for pid, (comm, _, uid) in all_procs().items():
            if comm == "dtach" and uid == os.getuid():
                cl = cmdline(pid)
                if len(cl) > 2 and cl[2].decode(errors="replace") == sock:
                    return pid
        return None

    def screen_pids(self, names=None):
        out = []
        d = os.path.join(WORK, "screen")
        for f in os.listdir(d):
            pid, _, name = f.partition(".")
            if pid.isdigit() and (names is None or name in names):
                out.append(int(pid))
        return out

    def tmux_server_pid(self, sock):
        return int(self.run(["tmux", "-S", sock, "display-message", "-p", "#{pid}"]).strip())

    def children(self, procs, pid):
        return [c for c, (_, pp, _) in procs.items() if pp == pid]

    # ---------------------------------------------------------- interleaved groups
    def group(self, name, cases, rounds, setup=None, teardown=None, warmup=True, reps=1, settle=0.005):
        """cases: list of (case, fn, prep, post); fn(run) returns seconds.
        Each round runs every case `reps` times (its value in the round is
        the median), in a shuffled order, with `settle` seconds of quiet
        before each timed run so that one case's background work (a shell
        starting, a session ending) does not land on the next."""
        log("group %s: %d cases x %d rounds x %d" % (name, len(cases), rounds, reps))
        g = {"cases": [c[0] for c in cases], "rounds": [], "reps": reps}
        self.res["groups"][name] = g
        t0 = time.time()
        try:
            if setup:
                setup()
            if warmup:
                for case, fn, prep, post in cases:
                    try:
                        if prep:
                            prep(-1)
                        fn(-1)
                        if post:
                            post(-1)
                    except Exception as e:  # noqa: BLE001
                        self.errors.append("%s/%s warm-up: %s" % (name, case, e))
            for r in range(rounds):
                order = list(cases)
                self.rng.shuffle(order)
                row = {}
                for case, fn, prep, post in order:
                    try:
                        ts = []
                        for k in range(reps):
                            rr = r * reps + k
                            if prep:
                                prep(rr)
                            time.sleep(settle)
                            ts.append(fn(rr))
                            if post:
                                post(rr)
                        row[case] = statistics.median(ts)
                    except Exception as e:  # noqa: BLE001
                        row[case] = None
                        self.errors.append("%s/%s round %d: %s" % (name, case, r, e))
                g["rounds"].append(row)
        finally:
            if teardown:
                try:
                    teardown()
                except Exception as e:  # noqa: BLE001
                    self.errors.append("%s teardown: %s" % (name, e))
        g["seconds"] = time.time() - t0

    # ---------------------------------------------------------- 1. create
    def g_create(self):
        W, D = self.W, self.dwell
        tsock = W + "/tmux-new.sock"
        made = {"dwell": [], "dtach": [], "screen": []}

        def setup():
            self.run(["tmux", "-S", tsock, "-f", "/dev/null", "new-session", "-d", "-s", "base", "bash"])
            self.tmux_new_pid = self.tmux_server_pid(tsock)

        def dwell_new(r):
            name = "new%d" % (r + 1)
            made["dwell"].append(name)
            return self.steps(([D, "new", "-n", name], {}))

        def dtach_new(r):
            sock = "%s/dt/new%d" % (W, r + 1)
            made["dtach"].append(sock)
            return self.steps((["dtach", "-n", sock, "-E", "bash"], {}))

        def tmux_new(r):
            return self.steps((["tmux", "-S", tsock, "new-session", "-d", "bash"], {}))

        def screen_new(r):
            name = "new%d" % (r + 1)
            made["screen"].append(name)
            return self.steps((["screen", "-dmS", name, "bash"], {}))

        def post_dwell(r):
            self.run([D, "remove", made["dwell"][-1]])

        def post_dtach(r):
            self.kill_pids([self.wait_for(lambda: self.dtach_master(made["dtach"][-1]))], "dtach")

        def post_screen(r):
            self.kill_pids(self.wait_for(lambda: self.screen_pids([made["screen"][-1]])), "screen")

        def teardown():
            self.kill_pids([self.tmux_new_pid], "tmux")

        true = lambda r: self.steps((["/bin/true"], {}))  # noqa: E731
        self.group("create", [
            ("true", true, None, None),
            ("dwell new", dwell_new, None, post_dwell),
            ("dtach -n", dtach_new, None, post_dtach),
            ("tmux new-session -d", tmux_new, None, None),
            ("screen -dmS", screen_new, None, post_screen),
        ], self.p["rounds_create"], setup, teardown, reps=3, settle=0.05)

        # dwell new returns when the session accepts commands: check once.
        try:
            t0 = time.perf_counter()
            self.run([D, "new", "-n", "readycheck"])
            t1 = time.perf_counter()
            out = self.run([D, "invoke", "readycheck", "--", "echo ready"])
            t2 = time.perf_counter()
            self.res["checks"]["new_then_invoke"] = {"new_s": t1 - t0, "invoke_s": t2 - t1,
                                                     "ok": out.strip() == "ready"}
            self.run([D, "remove", "readycheck"])
        except Exception as e:  # noqa: BLE001
            self.errors.append("readycheck: %s" % e)

    # ---------------------------------------------------------- 2. invoke
    def g_invoke(self):
        W, D = self.W, self.dwell
        dsock = W + "/dt/inv"
        tsock = W + "/tmux-inv.sock"
        truef = W + "/true.txt"
        with open(truef, "w") as f:
            f.write("true\n")
        st = {}

        def setup():
            self.run([D, "new", "-n", "inv"])
            self.run(["dtach", "-n", dsock, "-E", "bash"])
            st["dtach"] = self.wait_for(lambda: self.dtach_master(dsock))
            self.run(["screen", "-dmS", "inv", "bash"])
            st["screen"] = self.wait_for(lambda: self.screen_pids(["inv"]))
            self.run(["tmux", "-S", tsock, "-f", "/dev/null", "new-session", "-d", "-s", "inv", "bash"])
            st["tmux"] = self.tmux_server_pid(tsock)
            time.sleep(0.5)     # let the shells start

        def teardown():
            self.run([D, "remove", "inv"])
            self.kill_pids([st.get("dtach"), st.get("tmux")] + st.get("screen", []), "peers")

        true = lambda r: self.steps((["/bin/true"], {}))  # noqa: E731
        self.group("invoke", [
            ("true", true, None, None),
            ("dwell invoke", lambda r: self.steps(([D, "invoke", "inv", "--", "true"], {})), None, None),
            ("dtach -p", lambda r: self.steps((["dtach", "-p", dsock], {"stdin": truef})), None, None),
            ("screen -X stuff", lambda r: self.steps((["screen", "-S", "inv", "-X", "stuff", "true\n"], {})),
             None, None),
            ("tmux send-keys + wait-for", lambda r: self.steps(
                (["tmux", "-S", tsock, "send-keys", "-t", "inv",
                  "true; tmux -S %s wait-for -S inv-done" % tsock, "Enter"], {}),
                (["tmux", "-S", tsock, "wait-for", "inv-done"], {})), None, None),
        ], self.p["rounds_invoke"], setup, teardown, reps=5, settle=0.01)

    # ---------------------------------------------------------- 3. throughput
    def g_tput(self):
        W, D = self.W, self.dwell
        n = self.p["tput_bytes"]
        prod = "head -c %d /dev/zero" % n
        fout = W + "/out/f"

        def setup():
            self.run([D, "new", "-n", "tc"])
            self.run([D, "new", "-n", "td", "--output-buffering", "drop"])
            self.run([D, "new", "-n", "tb", "--output-buffering", "block"])

        def teardown():
            self.run([D, "remove", "tc", "td", "tb"])

        def rmf(r):
            try:
                os.unlink(fout)
            except FileNotFoundError:
                pass

        def checked_size(r):
            if r == 0:
                sz = os.path.getsize(fout)
                self.res["checks"].setdefault("tput_file_sizes", []).append(sz)
            rmf(r)

        def recv_case(sess):
            return lambda r: self.steps(
                ([D, "invoke", "-d", sess, "--", prod], {}),
                ([D, "receive", sess], {"stderr": W + "/err/receive-%s.err" % sess}))

        self.group("throughput", [
            ("pipe", lambda r: self.steps((["sh", "-c", prod + " | cat > /dev/null"], {})), None, None),
            ("pipe to file", lambda r: self.steps((["sh", "-c", prod + " | cat > " + fout], {})),
             None, checked_size),
            ("dwell invoke > /dev/null", lambda r: self.steps(([D, "invoke", "tc", "--", prod], {})),
             None, None),
            ("dwell invoke > file", lambda r: self.steps(([D, "invoke", "tc", "--", prod], {"stdout": fout})),
             None, checked_size),
            ("dwell drop, then receive", recv_case("td"), None, None),
            ("dwell block, drained by receive", recv_case("tb"), None, None),
        ], self.p["rounds_tput"], setup, teardown, warmup=not self.p["quick"], settle=0.1)

    def g_pty(self):
        """pty-bound peers: a smaller amount of text through each tool."""
        W, D = self.W, self.dwell
        m = self.p["pty_bytes"]
        prod = "yes 0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMN | head -c %d" % m
        tsock = W + "/tmux-pty.sock"
        st = {}

        def setup():
            self.run([D, "new", "-n", "tp"])
            self.run(["tmux", "-S", tsock, "-f", "/dev/null", "new-session", "-d", "-s", "pty",
                      "-x", "80", "-y", "24", "bash"])
            st["tmux"] = self.tmux_server_pid(tsock)

        def teardown():
            self.run([D, "remove", "tp"])
            self.kill_pids([st.get("tmux")], "tmux")

        def tmux_case(r):
            return self.steps(
                (["tmux", "-S", tsock, "new-window", "-d", "-t", "pty",
                  prod + "; tmux -S %s wait-for -S pty-done" % tsock], {}),
                (["tmux", "-S", tsock, "wait-for", "pty-done"], {}))

        self.group("pty_throughput", [
            ("pipe", lambda r: self.steps((["sh", "-c", prod + " | cat > /dev/null"], {})), None, None),
            ("dwell invoke > /dev/null", lambda r: self.steps(([D, "invoke", "tp", "--", prod], {})),
             None, None),
            ("dtach -N (no client)", lambda r: self.steps(
                (["dtach", "-N", W + "/dt/pty%d" % r, "-E", "sh", "-c", prod], {"any_rc": True})), None, None),
            ("tmux (detached window)", tmux_case, None, None),
            ("screen -D -m", lambda r: self.steps((["screen", "-D", "-m", "sh", "-c", prod], {})), None, None),
        ], self.p["rounds_pty"], setup, teardown, warmup=False, settle=0.1)

    # ---------------------------------------------------------- 4. replay
    def g_replay(self):
        W, D = self.W, self.dwell
        nbytes = self.p["replay_bytes"]
        f = W + "/replay.txt"
        lines = nbytes // 64
        with open(f, "w") as fh:
            for i in range(lines):
                fh.write("%08d %s\n" % (i, "x" * 54))
        tsock = W + "/tmux-replay.sock"
        st = {}

        def setup():
            self.run(["tmux", "-S", tsock, "-f", "/dev/null", "new-session", "-d", "-s", "boot", "bash"])
            st["tmux"] = self.tmux_server_pid(tsock)
            self.run(["tmux", "-S", tsock, "set-option", "-g", "history-limit", str(lines + 1000)])
            self.run(["tmux", "-S", tsock, "new-session", "-d", "-s", "rp", "-x", "100", "-y", "50",
                      "cat %s; tmux -S %s wait-for -S rp-done; sleep 100000" % (f, tsock)])
            self.run(["tmux", "-S", tsock, "wait-for", "rp-done"])
            cap = self.run(["tmux", "-S", tsock, "capture-pane", "-p", "-S", "-", "-t", "rp"])
            self.res["checks"]["tmux_capture_bytes"] = len(cap.encode())
            self.run([D, "new", "-n", "rp", "-c", "bench"])

        def teardown():
            self.run([D, "remove", "rp"])
            self.kill_pids([st.get("tmux")], "tmux")

        def prep_dwell(r):
            try:
                self.run([D, "invoke", "-d", "rp", "--", "cat " + f])
            except RuntimeError as e:
                # Recorded as an error of the run (the report lists it); the
                # session is made again so that the case still gets numbers.
                self.errors.append("replay: session rp failed before round %d (%s); re-created" % (r, e))
                self.run([D, "remove", "rp"], check=False)
                self.run([D, "new", "-n", "rp", "-c", "bench"])
                self.run([D, "invoke", "-d", "rp", "--", "cat " + f])
            self.wait_idle("rp", want_buffered=nbytes)

        def dwell_recv(r):
            out = W + "/out/replay" if r == 0 else "/dev/null"
            t = self.steps(([D, "receive", "rp"], {"stdout": out}))
            if r == 0:
                self.res["checks"]["dwell_replay_bytes"] = os.path.getsize(out)
                os.unlink(out)
            return t

        self.group("replay", [
            ("cat", lambda r: self.steps((["cat", f], {})), None, None),
            ("dwell receive", dwell_recv, prep_dwell, None),
            ("tmux capture-pane -p -S -", lambda r: self.steps(
                (["tmux", "-S", tsock, "capture-pane", "-p", "-S", "-", "-t", "rp"], {})), None, None),
        ], self.p["rounds_replay"], setup, teardown, reps=3, settle=0.02)

    # ---------------------------------------------------------- 5. scaling
    def pss(self, pids):
        ans = self.ask({"op": "pss", "pids": list(pids)})["pss"]
        return {int(k): v for k, v in ans.items()}

    SCALE_TOOLS = ["dwell", "dtach", "tmux", "screen"]
    SCALE_CHUNK = 10    # sessions per tool per round of the interleaved creation

    def scale_argv(self, tool, i):
        W, D = self.W, self.dwell
        if tool == "dwell":
            return [D, "new", "-n", "s%d" % i]
        if tool == "dtach":
            return ["dtach", "-n", "%s/dt/s%d" % (W, i), "-E", "bash"]
        if tool == "screen":
            return ["screen", "-dmS", "s%d" % i, "bash"]
        return ["tmux", "-S", W + "/tmux-scale.sock", "-f", "/dev/null", "new-session", "-d", "bash"]

    def scale_n(self, n):
        """Creates n sessions with every tool, interleaved: each round creates
        SCALE_CHUNK sessions per tool, the tools in a shuffled order, so the
        machine's drifts hit every tool alike.  Then measures each tool's
        memory (all sessions alive at once), dwell's list, and tears down."""
        D = self.dwell
        tools = list(self.SCALE_TOOLS)
        recs = {t: {"n": n} for t in tools}
        times = {t: [] for t in tools}
        failed = set()
        procs0 = all_procs()
        uid = os.getuid()
        for start in range(0, n, self.SCALE_CHUNK):
            self.rng.shuffle(tools)
            for tool in tools:
                for i in range(start, min(n, start + self.SCALE_CHUNK)):
                    if tool in failed:
                        break
                    argv = self.scale_argv(tool, i)
                    t, rc = self.spawn(argv)
                    if rc != 0:
                        self.errors.append("scaling %s %d: %s: exit %d after %d sessions"
                                           % (tool, n, " ".join(argv), rc, i))
                        failed.add(tool)
                    times[tool].append(t)
        time.sleep(1.0 if n <= 100 else 3.0)   # let the shells settle
        procs = all_procs()
        new = {p: v for p, v in procs.items() if p not in procs0}
        shells = [p for p, (c, _, u) in new.items() if c == "bash" and u == uid]
        mine = {
            "dwell": [p for p, (c, _, _) in new.items() if c == "dwell-host"],
            "dtach": [p for p, (c, _, u) in new.items() if c == "dtach" and u == uid],
            "screen": [p for p, (c, _, u) in new.items() if c == "screen" and u == uid],
            "tmux": [p for p, (c, _, u) in new.items() if c.startswith("tmux") and u == uid],
        }
        for tool in self.SCALE_TOOLS:
            rec = recs[tool]
            if tool in failed:
                continue
            rec["create_s"] = sum(times[tool])
            rec["create_each_median_s"] = statistics.median(times[tool])
            own = set(mine[tool])
            # the shells are children of the tool's processes (of the worker for dwell)
            sh = [p for p in shells if new[p][1] in own]
            # dwell's session spawner serves every session: counted once, in the total
            shared = [p for p, (c, _, _) in procs.items() if c == "dwell-spawner"] if tool == "dwell" else []
            m = self.pss(mine[tool] + sh + shared)
            rec["procs"] = len(own) + len(shared)
            rec["shells"] = len(sh)
            rec["pss_total_kib"] = sum(m[p] or 0 for p in mine[tool] + shared)
            rec["pss_per_session_kib"] = rec["pss_total_kib"] / n
            rec["shell_pss_kib"] = (sum(m[p] or 0 for p in sh) / len(sh)) if sh else None
            if shared:
                rec["spawner_pss_kib"] = sum(m[p] or 0 for p in shared)
            if tool == "dwell":
                workers = {procs[p][1] for p in sh if p in procs}
                rec["workers"] = len(workers)
                rec["monitors"] = len({procs[w][1] for w in workers if w in procs})
        if "dwell" not in failed:
            rec = recs["dwell"]
            dpid = self.ask({"op": "dwelld_pid"})["pid"]
            if dpid:
                rec["dwelld_pss_kib"] = self.pss([dpid])[dpid]
            lt = []
            for _ in range(self.p["list_runs"]):
                t, rc = self.spawn([D, "list"], stdout=self.W + "/out/list")
                lt.append(t)
            rec["list_s"] = lt
            rec["list_rows"] = sum(1 for _ in open(self.W + "/out/list")) - 1
            lj = []
            for _ in range(max(3, self.p["list_runs"] // 3)):
                t, rc = self.spawn([D, "--json", "list"])
                lj.append(t)
            rec["list_json_s"] = lj
        # teardown: dwell removes its sessions, the others' processes are killed by pid
        t0 = time.time()
        self.run([D, "remove", "--all"], timeout=300)
        t_end = time.time() + 120
        while time.time() < t_end and any(proc_stat(p) is not None for p in mine["dwell"]):
            time.sleep(0.1)
        if any(proc_stat(p) is not None for p in mine["dwell"]):
            self.errors.append("scaling dwell %d: hosts still running after remove --all" % n)
        for tool in ("dtach", "screen", "tmux"):
            self.kill_pids(mine[tool], tool)
        recs["dwell"]["teardown_s"] = time.time() - t0
        t_end = time.time() + 30
        while time.time() < t_end and any(proc_stat(p) is not None for p in shells):
            time.sleep(0.1)
        return recs

    def g_scaling(self):
        sc = self.res["scaling"]
        dpid = self.ask({"op": "dwelld_pid"})["pid"]
        if dpid:
            sc["dwelld_idle_pss_kib"] = self.pss([dpid])[dpid]
        for n in self.p["scale_n"]:
            log("scaling: %d sessions of each tool, created interleaved" % n)
            try:
                recs = self.scale_n(n)
            except Exception as e:  # noqa: BLE001
                self.errors.append("scaling %d: %s" % (n, e))
                continue
            for tool in self.SCALE_TOOLS:
                if "create_s" in recs[tool]:
                    sc.setdefault(tool, []).append(recs[tool])

    # ---------------------------------------------------------- idle bash reference
    def g_bash(self):
        """PSS of a plain idle interactive bash (on a pty, as under dtach)."""
        W = self.W
        socks = ["%s/dt/bash%d" % (W, i) for i in range(10)]
        for s in socks:
            self.run(["dtach", "-n", s, "-E", "bash"])
        time.sleep(0.5)
        procs = all_procs()
        masters = [self.wait_for(lambda: self.dtach_master(s)) for s in socks]
        shells = [p for p, (c, pp, _) in procs.items() if c == "bash" and pp in masters]
        m = self.pss(shells)
        self.res["idle_bash_pss_kib"] = sum(m.values()) / len(m) if m else None
        self.kill_pids(masters, "dtach")

    def versions(self):
        v = {}
        for name, argv in (("tmux", ["tmux", "-V"]), ("screen", ["screen", "-v"]),
                           ("bash", ["bash", "--version"]), ("dtach", ["dtach", "--help"])):
            try:
                r = subprocess.run(argv, capture_output=True, text=True, env=self.env)
                v[name] = (r.stdout or r.stderr).splitlines()[0].strip()
            except Exception as e:  # noqa: BLE001
                v[name] = "? (%s)" % e
        self.res["versions"] = v

    def main(self):
        t0 = time.time()
        self.versions()
        for g in (self.g_create, self.g_invoke, self.g_replay, self.g_tput, self.g_pty,
                  self.g_bash, self.g_scaling):
            if "only" in self.p and g.__name__[2:] not in self.p["only"]:
                continue
            try:
                g()
            except Exception as e:  # noqa: BLE001
                self.errors.append("%s: %s" % (g.__name__, e))
                log("%s failed: %s" % (g.__name__, e))
        self.res["driver_seconds"] = time.time() - t0
        for e in self.errors:
            log("error: " + e)
        sys.stdout.write(json.dumps({"op": "results", "results": self.res}) + "\n")
        sys.stdout.flush()


def cmd_driver(argv):
    p = json.loads(argv[0])
    Driver(p).main()
    return 0


# ======================================================================= report

def fmt_t(s):
    if s is None:
        return "—"
    if s < 1e-3:
        return "%.0f µs" % (s * 1e6)
    if s < 1:
        return "%.2f ms" % (s * 1e3)
    return "%.2f s" % s


def fmt_r(x):
    return "—" if x is None else ("%.2f×" % x)


def stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


def group_stats(g, ref, invert=False):
    """Per case: time stats and the per-round ratio case/ref (ref/case if invert)."""
    out = {}
    for c in g["cases"]:
        ts = [row.get(c) for row in g["rounds"]]
        ratios = []
        for row in g["rounds"]:
            a, b = row.get(c), row.get(ref)
            if a and b:
                ratios.append(b / a if invert else a / b)
        out[c] = {"time": stats(ts), "ratio": stats(ratios)}
    return out


def cmd_report(argv):
    def opt(name, default=None):
        return argv[argv.index(name) + 1] if name in argv else default
    raw = json.load(open(opt("--raw")))
    outdir = opt("--outdir")
    remote_file = opt("--remote")
    reconnect_file = opt("--reconnect")
    fleet_file = opt("--fleet")
    machine = json.load(open(opt("--machine"))) if opt("--machine") else {}
    p = raw["params"]
    G = raw["groups"]
    R = {"machine": machine, "params": p, "versions": raw.get("versions"), "cases": {},
         "scaling": raw.get("scaling"), "checks": raw.get("checks"), "errors": raw.get("errors"),
         "idle_bash_pss_kib": raw.get("idle_bash_pss_kib"), "goals": []}
    md = []
    md.append("# dwell benchmark results\n")
    md.append("Generated by `scripts/bench.sh%s` — every figure below comes from one run. "
              "See `bench/README.md` for what each case measures exactly.\n" % (" --quick" if p["quick"] else ""))
    md.append("| machine | |\n|---|---|")
    for k in ("date", "nproc", "cpu", "kernel", "memory", "os"):
        if k in machine:
            md.append("| %s | %s |" % (k, machine[k]))
    for k, v in (raw.get("versions") or {}).items():
        md.append("| %s | %s |" % (k, v))
    md.append("")
    md.append("Times are wall-clock per process (posix_spawn → waitpid) as the test user inside the "
              "sandbox; cases of a group run interleaved, in a shuffled order each round. "
              "Ratios are medians of per-round ratios (min–max in brackets); the machine is noisy, "
              "so read the ratios, not the absolute times.\n")

    goals = []

    def goal(metric, measured, target, met, note=""):
        if measured is None and "only" in p:
            met = None  # a group left out with --only: n/a, not "not met"
        goals.append({"metric": metric, "measured": measured, "goal": target, "met": met, "note": note})

    def table(gname, ref, title, invert=False, rate_bytes=None):
        g = G.get(gname)
        if not g:
            md.append("*(%s: no data)*\n" % gname)
            return {}
        st = group_stats(g, ref, invert)
        R["cases"][gname] = st
        md.append("### %s\n" % title)
        hdr = "| case | median | min–max | " + ("throughput (median) | " if rate_bytes else "") + \
              ("ratio to %s (per-round median, min–max) |" % ref)
        md.append(hdr)
        md.append("|---|---|---|" + ("---|" if rate_bytes else "") + "---|")
        for c in g["cases"]:
            s = st[c]
            t = s["time"]
            r = s["ratio"]
            cells = [c, fmt_t(t and t["median"]),
                     "%s – %s" % (fmt_t(t["min"]), fmt_t(t["max"])) if t else "—"]
            if rate_bytes:
                cells.append("%.0f MB/s" % (rate_bytes / t["median"] / 1e6) if t else "—")
            cells.append("%s (%s – %s)" % (fmt_r(r["median"]), fmt_r(r["min"]), fmt_r(r["max"])) if r else "—")
            md.append("| " + " | ".join(cells) + " |")
        md.append("\n%d rounds.\n" % len(g["rounds"]))
        return st

    md.append("## Latency\n")
    st = table("create", "true", "Creating a session (`dwell new` returns when the session accepts commands)")
    r = st.get("dwell new", {}).get("ratio")
    goal("`dwell new` until ready", r and r["median"], "≤ 5× /bin/true", bool(r and r["median"] <= 5),
         "dtach -n %s, tmux %s" % (fmt_r((st.get("dtach -n", {}).get("ratio") or {}).get("median")),
                                   fmt_r((st.get("tmux new-session -d", {}).get("ratio") or {}).get("median"))))
    st = table("invoke", "true", "Running `true` in an existing session from a fresh client process")
    r = st.get("dwell invoke", {}).get("ratio")
    goal("`dwell invoke S -- true`", r and r["median"], "≤ 2× /bin/true", bool(r and r["median"] <= 2),
         "dtach -p %s, screen %s, tmux %s" % (
             fmt_r((st.get("dtach -p", {}).get("ratio") or {}).get("median")),
             fmt_r((st.get("screen -X stuff", {}).get("ratio") or {}).get("median")),
             fmt_r((st.get("tmux send-keys + wait-for", {}).get("ratio") or {}).get("median"))))

    md.append("## Output throughput\n")
    nb = p["tput_bytes"]
    md.append("`head -c %d /dev/zero` (%s) run in a session; ratio = pipe time / case time in the same "
              "round (so it is the throughput ratio; ≥ 0.5 is the goal). `> file` cases are compared "
              "with the pipe writing the same file (tmpfs).\n" % (nb, "%d MiB" % (nb // MiB)))
    st = table("throughput", "pipe", "Throughput, %d MiB" % (nb // MiB), invert=True, rate_bytes=nb)
    if st:
        g = G["throughput"]
        fr = []
        for row in g["rounds"]:
            a, b = row.get("dwell invoke > file"), row.get("pipe to file")
            if a and b:
                fr.append(b / a)
        sfr = stats(fr)
        R["cases"]["throughput"]["dwell invoke > file"]["ratio_to_pipe_to_file"] = sfr
        md.append("`dwell invoke > file` against `pipe to file`: %s (%s – %s)\n" % (
            fmt_r(sfr and sfr["median"]), fmt_r(sfr and sfr["min"]), fmt_r(sfr and sfr["max"])))
        for c in ("dwell invoke > /dev/null", "dwell drop, then receive", "dwell block, drained by receive"):
            r = st.get(c, {}).get("ratio")
            goal("throughput: %s" % c, r and r["median"], "≥ 0.5× pipe", bool(r and r["median"] >= 0.5))
        goal("throughput: dwell invoke > file", sfr and sfr["median"], "≥ 0.5× pipe to file",
             bool(sfr and sfr["median"] >= 0.5))
    mb = p["pty_bytes"]
    md.append("pty-bound peers get %d MiB of text lines (`yes … | head -c %d`; 64-byte lines) — a "
              "full 1 GiB through a terminal emulator would take most of the run. dwell and a raw pipe "
              "run the same producer in the same rounds.\n" % (mb // MiB, mb))
    table("pty_throughput", "pipe", "Throughput with pty-bound peers, %d MiB of text" % (mb // MiB),
          invert=True, rate_bytes=mb)

    md.append("## Replay\n")
    ck = raw.get("checks", {})
    md.append("%d MiB of buffered output (64-byte text lines). dwell: `receive` of a session whose "
              "command printed it while disconnected (%s bytes received); tmux: `capture-pane -p -S -` "
              "of a pane whose history holds the same lines (%s bytes); `cat` of the file.\n" % (
                  p["replay_bytes"] // MiB, ck.get("dwell_replay_bytes"), ck.get("tmux_capture_bytes")))
    st = table("replay", "cat", "Replay of buffered output")
    r = st.get("dwell receive", {}).get("ratio")
    goal("replay: `receive` of 4 MiB", r and r["median"], "≤ 2× cat", bool(r and r["median"] <= 2),
         "tmux capture-pane %s" % fmt_r((st.get("tmux capture-pane -p -S -", {}).get("ratio") or {}).get("median")))

    # ---------------------------------------------------------------- scaling
    md.append("## Scaling: memory per idle session and creating N sessions\n")
    sc = raw.get("scaling") or {}
    md.append("Memory: PSS (`/proc/PID/smaps_rollup`) summed over each tool's own processes, divided by "
              "N, the shells excluded — dwell: the monitor and the worker of every session (the worker "
              "is the shell's parent, the monitor the worker's) plus the one session spawner they are "
              "cloned from; dtach: one master per session; screen: "
              "one SCREEN per session; tmux: its one server. Creation: N sessions of each tool, created "
              "interleaved (10 of each tool per round, the tools shuffled each round; the figure is the sum "
              "of one tool's processes' wall times), all tools' sessions alive when memory is measured. An idle bash on a pty measured alone: %s KiB.\n" % (
                  "%.0f" % raw["idle_bash_pss_kib"] if raw.get("idle_bash_pss_kib") else "—"))
    md.append("| N | tool | PSS/session (KiB) | processes | shell PSS (KiB) | create N | per create (median) |"
              " create vs dtach |")
    md.append("|---|---|---|---|---|---|---|---|")
    ns = p["scale_n"]
    dat = []
    for n in ns:
        row_d = {}
        for tool in ("dwell", "dtach", "tmux", "screen"):
            for rec in sc.get(tool, []):
                if rec["n"] == n:
                    row_d[tool] = rec
        dt = row_d.get("dtach")
        for tool in ("dwell", "dtach", "tmux", "screen"):
            rec = row_d.get(tool)
            if not rec:
                md.append("| %d | %s | — | — | — | — | — | — |" % (n, tool))
                continue
            vs = rec["create_s"] / dt["create_s"] if dt else None
            md.append("| %d | %s | %.0f | %d | %s | %s | %s | %s |" % (
                n, tool, rec["pss_per_session_kib"], rec["procs"],
                "%.0f" % rec["shell_pss_kib"] if rec.get("shell_pss_kib") else "—",
                fmt_t(rec["create_s"]), fmt_t(rec["create_each_median_s"]), fmt_r(vs)))
        dat.append((n, row_d))
        dw = row_d.get("dwell")
        if dw and dt:
            goal("memory per idle session, N=%d" % n, dw["pss_per_session_kib"] / dt["pss_per_session_kib"],
                 "≤ 1× dtach (%.0f KiB)" % dt["pss_per_session_kib"],
                 dw["pss_per_session_kib"] <= dt["pss_per_session_kib"],
                 "dwell %.0f KiB/session" % dw["pss_per_session_kib"])
            if n == max(ns) or n >= 100:
                goal("create %d sessions" % n, dw["create_s"] / dt["create_s"], "≤ 1.5× dtach",
                     dw["create_s"] / dt["create_s"] <= 1.5,
                     "dwell %s, dtach %s" % (fmt_t(dw["create_s"]), fmt_t(dt["create_s"])))
    md.append("")
    lrows = []
    for rec in sc.get("dwell", []):
        if "list_s" in rec:
            ls = stats(rec["list_s"])
            lj = stats(rec.get("list_json_s", []))
            lrows.append((rec["n"], ls, lj, rec.get("list_rows"), rec.get("dwelld_pss_kib")))
    if lrows:
        md.append("| N | `dwell list` median (min–max) | `dwell --json list` median | rows | dwelld PSS (KiB) |")
        md.append("|---|---|---|---|---|")
        for n, ls, lj, rows, dp in lrows:
            md.append("| %d | %s (%s – %s) | %s | %s | %s |" % (n, fmt_t(ls["median"]), fmt_t(ls["min"]),
                                                            fmt_t(ls["max"]), fmt_t(lj and lj["median"]), rows,
                                                            dp if dp is not None else "—"))
        md.append("\ndwelld's own PSS with no session: %s KiB.\n" % sc.get("dwelld_idle_pss_kib", "—"))
        n, ls, _, _, _ = max(lrows, key=lambda x: x[0])
        goal("`dwell list` of %d sessions" % n, ls["median"] * 1e3, "≤ 20 ms", ls["median"] <= 0.020,
             "absolute, in ms")
    md.append("![scaling](scaling.png)\n")

    # gnuplot data
    with open(os.path.join(outdir, "scaling.dat"), "w") as f:
        f.write("# N dwell_pss dtach_pss tmux_pss screen_pss dwell_create dtach_create tmux_create screen_create\n")
        for n, row_d in dat:
            vals = [n]
            for k in ("pss_per_session_kib", "create_s"):
                for tool in ("dwell", "dtach", "tmux", "screen"):
                    rec = row_d.get(tool)
                    vals.append(rec[k] if rec else "NaN")
            f.write(" ".join(str(v) for v in vals) + "\n")

    # ---------------------------------------------------------------- remote
    md.append("## Remote (ssh)\n")
    remote_txt = open(remote_file).read().strip() if remote_file and os.path.exists(remote_file) else ""
    if remote_txt:
        md.append("From `bench/remote.sh`, run right after the local cases:\n")
        md.append(remote_txt + "\n")
        m = None
        for line in remote_txt.splitlines():
            if re.search(r"dwell.*-H.*invoke", line):
                nums = re.findall(r"(\d+(?:\.\d+)?)\s*×", line)
                if nums:
                    m = float(nums[0])
                    break
        goal("remote: `dwell -H host invoke S -- true`", m, "≤ 1.2× `ssh host true`",
             (m is not None and m <= 1.2) if m is not None else None,
             "from bench/remote.sh" if m is not None else "see the remote table (ratio not parsed)")
    else:
        md.append("*bench/remote.sh was not present or printed nothing; no remote rows.*\n")
        goal("remote: `dwell -H host invoke S -- true`", None, "≤ 1.2× `ssh host true`", None, "not measured")

    # ---------------------------------------------------------------- reconnection
    reconnect_txt = open(reconnect_file).read().strip() if reconnect_file and os.path.exists(reconnect_file) else ""
    if reconnect_txt:
        md.append("## Reconnection (ssh)\n")
        md.append("From `bench/reconnect.sh`: output flowing again after a 1 s outage of the link "
                  "(sshd in a network namespace behind a veth pair):\n")
        md.append(reconnect_txt + "\n")
    # ---------------------------------------------------------------- fleet
    fleet_txt = open(fleet_file).read().strip() if fleet_file and os.path.exists(fleet_file) else ""
    if fleet_txt:
        md.append("## Fleet (ssh, 20 hosts)\n")
        md.append("From `bench/fleet.sh`, run right after the remote cases:\n")
        md.append(fleet_txt + "\n")

    # ---------------------------------------------------------------- goals
    gl = ["## Goals (issue 6)\n", "| metric | measured | goal | met | note |", "|---|---|---|---|---|"]
    for g in goals:
        m = g["measured"]
        ms = "—" if m is None else ("%.1f ms" % m if "list" in g["metric"] else fmt_r(m))
        gl.append("| %s | %s | %s | %s | %s |" % (g["metric"], ms, g["goal"],
                                                  {True: "met", False: "**not met**", None: "—"}[g["met"]],
                                                  g["note"]))
    gl.append("")
    idx = md.index("## Latency\n")
    md[idx:idx] = gl
    R["goals"] = goals
    errs = raw.get("errors") or []
    if errs:
        md.append("## Errors during the run\n")
        for e in errs:
            md.append("- " + e.replace("|", "\\|"))
        md.append("")
    term_file = opt("--terminal")
    if term_file and os.path.exists(term_file) and os.path.getsize(term_file) > 0:
        # bench/terminal.sh's run (issue 15), its tables as terminal.py prints them
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import terminal
        md.append("## Terminal sessions (issue 15)\n")
        md.append("From `bench/terminal.sh` (see bench/README.md), in the same run.\n")
        md.append(terminal.report(json.load(open(term_file))))
    prof = os.path.join(os.path.dirname(os.path.abspath(__file__)), "PROFILE.md")
    if os.path.exists(prof):
        md.append(open(prof).read())
    gp = os.path.join(os.path.dirname(os.path.abspath(__file__)), "scaling.gp")
    dat = os.path.join(outdir, "scaling.dat")
    r = subprocess.run(["gnuplot", "-e", "dat='%s'; out='%s'" % (dat, os.path.join(outdir, "scaling.png")), gp],
                       capture_output=True, text=True)
    if r.returncode != 0:
        sys.stderr.write("bench.py: gnuplot failed: %s\n" % r.stderr.strip())
    os.unlink(dat)
    with open(os.path.join(outdir, "RESULTS.md"), "w") as f:
        f.write("\n".join(md) + "\n")
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(R, f, indent=1)
    # goals on stdout
    print("\n=== goals (issue 6) ===")
    for g in goals:
        m = g["measured"]
        ms = "—" if m is None else ("%.1f ms" % m if "list" in g["metric"] else fmt_r(m))
        print("%-48s %-10s goal %-22s %s" % (g["metric"].replace("`", ""), ms, g["goal"].replace("`", ""),
                                              {True: "met", False: "NOT MET", None: "n/a"}[g["met"]]))
    if errs:
        print("%d errors during the run (see RESULTS.md)" % len(errs))
    return 0


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        return 2
    verb, rest = sys.argv[1], sys.argv[2:]
    if verb == "inside":
        return cmd_inside(rest)
    if verb == "driver":
        return cmd_driver(rest)
    if verb == "report":
        return cmd_report(rest)
    print(__doc__)
    return 2


if __name__ == "__main__":
    sys.exit(main())
