#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""bench/terminal.py: terminal sessions (issue 15) side by side with dtach,
tmux, screen and ssh, in one run.  Run by bench/terminal.sh inside the
integration tests' sandbox, as root; every client and session runs as alice
on a pseudo-terminal this driver owns (the "outer terminal", 80x24), whose
master it reads and writes.

  latency     a byte written to the outer pty's master, timed until its echo
              comes back (the shell's readline echo, through the attached
              client and the session's own pty); many samples, interleaved
              in rounds; median and p99.  `bash -l` straight on the outer
              pty is the reference.
  throughput  `cat FILE` (FILE_MIB MiB of 64-byte text lines) typed in the
              attached session, timed from the Enter key until the marker
              printed after it reaches the outer pty: everything the
              terminal multiplexer decided to show was shown.
  reattach    a session printed 12,000 lines (10,000 of scrollback kept) and
              then a full screen; timed from starting the attach client to
              the screen's last row arriving at the outer pty (dwell both
              with its scrollback written first, the default, and with
              --no-history, the screen only, as tmux and screen draw it).
  memory      N idle sessions, each with 10,000 lines of scrollback at 80x24:
              PSS of the tool's own processes per session (shells
              excluded): dwell's monitor and worker (+ its spawner, shared,
              counted once in the total), one SCREEN process per session,
              tmux's one server divided by N.

    terminal.py --out RAW.json [--quick] [--skip dwell,ssh] [--only latency,throughput,reattach,memory]
    terminal.py report RAW.json          the markdown tables
"""
import fcntl
import json
import os
import pwd
import random
import select
import statistics
import struct
import subprocess
import sys
import termios
import time

USER = "alice"
SANDBOX = os.environ.get("DWELL_SANDBOX", "/run/dwell-sandbox")
BIN = os.environ.get("DWELL_BIN_DIR", SANDBOX + "/bin")
PW = HOME = W = None
ENV = {}


def setup_user():
    """The user every client runs as (only inside the sandbox; report needs none)."""
    global PW, HOME, W, ENV
    PW = pwd.getpwnam(USER)
    HOME = PW.pw_dir
    ENV = {
        "HOME": HOME, "USER": USER, "LOGNAME": USER, "SHELL": PW.pw_shell or "/bin/bash",
        "PATH": BIN + ":/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "TERM": "xterm-256color",
    }
    W = HOME + "/tbench"        # alice's scratch directory: sockets, configs, the file


DETACH = {"dwell": b"\x1c", "dwell-nohist": b"\x1c", "dwell-rec": b"\x1c", "dtach": b"\x1c", "tmux": b"\x02d", "screen": b"\x01d"}


def log(msg):
    sys.stderr.write("[terminal %s] %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def drop_privileges():
    os.setgroups(os.getgrouplist(USER, PW.pw_gid))
    os.setgid(PW.pw_gid)
    os.setuid(PW.pw_uid)
    os.chdir(HOME)


def as_alice(argv, timeout=60, **kw):
    return subprocess.run(argv, env=ENV, preexec_fn=drop_privileges, timeout=timeout,
                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)


class Term:
    """A program on a fresh pty (cols x rows) as alice; we hold the master."""

    def __init__(self, argv, cols=80, rows=24):
        m, s = os.openpty()
        fcntl.ioctl(s, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        os.fchown(s, PW.pw_uid, PW.pw_gid)
        self.t0 = time.perf_counter()
        pid = os.fork()
        if pid == 0:
            try:
                os.close(m)
                os.setsid()
                fcntl.ioctl(s, termios.TIOCSCTTY, 0)
                for fd in (0, 1, 2):
                    os.dup2(s, fd)
                if s > 2:
                    os.close(s)
                drop_privileges()
                os.execvpe(argv[0], argv, ENV)
            finally:
                os._exit(127)
        os.close(s)
        os.set_blocking(m, False)
        self.m, self.pid, self.argv = m, pid, argv
        self.bytes = 0

    def write(self, b):
        while b:
            try:
                n = os.write(self.m, b)
                b = b[n:]
            except BlockingIOError:
                select.select([], [self.m], [], 1)

    def _read(self, timeout):
        r, _, _ = select.select([self.m], [], [], timeout)
        if not r:
            return b""
        try:
            d = os.read(self.m, 1 << 16)
        except BlockingIOError:
            return b""
        except OSError:
            return None         # EIO: the client is gone
        self.bytes += len(d)
        return d

    def wait_for(self, pat, timeout):
        """Reads until pat has come; True, or False on timeout / EOF."""
        end = time.perf_counter() + timeout
        tail = b""
        while True:
            left = end - time.perf_counter()
            if left <= 0:
                return False
            d = self._read(min(left, 0.5))
            if d is None:
                return False
            if not d:
                continue
            buf = tail + d
            if pat in buf:
                return True
            tail = buf[-(len(pat) - 1):] if len(pat) > 1 else b""

    def drain(self, secs):
        end = time.perf_counter() + secs
        while time.perf_counter() < end:
            if self._read(max(0.0, end - time.perf_counter())) is None:
                return

    def close(self, detach=None, timeout=10):
        if detach:
            self.write(detach)
        end = time.time() + timeout
        while time.time() < end:
            self.drain(0.05)
            p, _ = os.waitpid(self.pid, os.WNOHANG)
            if p:
                break
        else:
            try:
                os.kill(self.pid, 9)
            except ProcessLookupError:
                pass
            os.waitpid(self.pid, 0)
        os.close(self.m)


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def procs():
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                s = f.read()
            uid = os.stat("/proc/" + d).st_uid
        except OSError:
            continue
        out[int(d)] = (s[s.index("(") + 1:s.rindex(")")], int(s[s.rindex(")") + 2:].split()[1]), uid)
    return out


def pct(vals, p):
    v = sorted(vals)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Bench:
    def __init__(self, quick, skip, only=None):
        setup_user()
        self.only = only or ["latency", "throughput", "reattach", "memory"]
        self.quick = quick
        self.tools = [t for t in ("dwell", "dwell-rec", "dtach", "tmux", "screen", "ssh") if t not in skip]
        self.rng = random.Random(15)
        self.res = {"quick": quick, "latency": {}, "throughput": {}, "reattach": {}, "memory": {}, "errors": []}
        self.p = {
            "lat_rounds": 6 if quick else 20, "lat_per_round": 25 if quick else 50,
            "file_mib": 8 if quick else 32, "tput_rounds": 2 if quick else 5,
            "reattach_rounds": 3 if quick else 10, "mem_n": 3 if quick else 10,
            "scroll_lines": 12000,
        }
        self.res["params"] = self.p
        os.makedirs(W, exist_ok=True)
        os.chown(W, PW.pw_uid, PW.pw_gid)
        with open(W + "/tmux.conf", "w") as f:
            f.write("set -g status off\nset -g history-limit 10000\nset -sg escape-time 0\n")
        with open(W + "/screenrc", "w") as f:
            f.write("startup_message off\ndefscrollback 10000\nhardstatus off\nvbell off\n")
        with open(W + "/lines", "w") as f:
            line = "%063d\n"
            n = self.p["file_mib"] * 1024 * 1024 // 64
            f.write("".join(line % i for i in range(n)))
        for name in ("tmux.conf", "screenrc", "lines"):
            os.chown(W + "/" + name, PW.pw_uid, PW.pw_gid)

    # ----------------------------------------------------------- sessions
    def create(self, tool, name):
        """Creates session NAME and returns an attached Term (bash -l in it)."""
        sock = "%s/%s.sock" % (W, name)
        if tool == "direct":
            return Term(["bash", "-l"])
        if tool == "dwell":
            return Term([BIN + "/dwell", "connect", "-t", name])
        if tool == "dwell-rec":         # transcript: true (bench/terminal.d): recorded by the monitor
            return Term([BIN + "/dwell", "connect", "-t", "-c", "recorded", name + "-rec"])
        if tool == "dtach":
            return Term(["dtach", "-c", sock, "-r", "none", "bash", "-l"])
        if tool == "tmux":
            return Term(["tmux", "-S", W + "/tmux.sock", "-f", W + "/tmux.conf", "new-session", "-s", name,
                         "bash -l"])
        if tool == "screen":
            return Term(["screen", "-c", W + "/screenrc", "-S", name, "bash", "-l"])
        if tool == "ssh":
            return Term(["ssh", "-tt", "-F", HOME + "/.ssh/cfg", "host"])
        raise ValueError(tool)

    def attach(self, tool, name):
        if tool == "dwell":
            return Term([BIN + "/dwell", "connect", name])
        if tool == "dwell-nohist":      # the same session, its screen only (as tmux attach draws)
            return Term([BIN + "/dwell", "connect", "--no-history", name])
        if tool == "tmux":
            return Term(["tmux", "-S", W + "/tmux.sock", "attach", "-t", name])
        if tool == "screen":
            return Term(["screen", "-r", name])
        raise ValueError(tool)

    def ready(self, term, what):
        """Types a command whose output proves the shell is there."""
        term.drain(0.3)
        term.write(b"echo READY-$((6*7))\r")
        if not term.wait_for(b"READY-42", 20):
            self.res["errors"].append("%s: the shell did not answer" % what)
            return False
        term.drain(0.2)
        return True

    def remove(self, tool, name):
        if tool == "dwell":
            as_alice([BIN + "/dwell", "remove", name])
        elif tool == "dwell-rec":
            as_alice([BIN + "/dwell", "remove", name + "-rec"])
        elif tool == "tmux":
            as_alice(["tmux", "-S", W + "/tmux.sock", "kill-session", "-t", name])
        elif tool == "screen":
            as_alice(["screen", "-S", name, "-X", "quit"])

    # ----------------------------------------------------------- cases
    def latency(self, terms):
        samples = {t: [] for t in terms}
        for rnd in range(self.p["lat_rounds"]):
            order = list(terms)
            self.rng.shuffle(order)
            for tool in order:
                term = terms[tool]
                term.write(b"\x15")         # Ctrl-U: an empty line
                term.drain(0.05)
                for i in range(self.p["lat_per_round"]):
                    t0 = time.perf_counter()
                    term.write(b"x")
                    if not term.wait_for(b"x", 5):
                        self.res["errors"].append("latency %s: no echo" % tool)
                        break
                    samples[tool].append(time.perf_counter() - t0)
                    term.drain(0.004 + self.rng.random() * 0.004)
                    if i % 30 == 29:
                        term.write(b"\x15")
                        term.drain(0.03)
                term.write(b"\x15")         # leave an empty line
                term.drain(0.03)
        for tool, s in samples.items():
            if s:
                self.res["latency"][tool] = {"n": len(s), "median_ms": statistics.median(s) * 1e3,
                                             "p99_ms": pct(s, 99) * 1e3, "min_ms": min(s) * 1e3}

    def throughput(self, terms):
        size = self.p["file_mib"] * 1024 * 1024
        times = {t: [] for t in terms}
        for rnd in range(self.p["tput_rounds"]):
            order = list(terms)
            self.rng.shuffle(order)
            for tool in order:
                term = terms[tool]
                term.write(b"\x15")
                term.drain(0.2)
                t0 = time.perf_counter()
                b0 = term.bytes
                term.write(b"cat %s/lines; echo TPUT-$((40+2))\r" % W.encode())
                if not term.wait_for(b"TPUT-42", 300):
                    self.res["errors"].append("throughput %s: no end marker" % tool)
                    continue
                times[tool].append((time.perf_counter() - t0, term.bytes - b0))
        for tool, v in times.items():
            if v:
                med = statistics.median(t for t, _ in v)
                self.res["throughput"][tool] = {"runs": len(v), "median_s": med, "mib_s": size / med / 2**20,
                                                "outer_bytes_median": statistics.median(b for _, b in v),
                                                "each": v}

    FILL = ("seq -f 'scrollback line %%g' 1 %d; for i in $(seq 1 23); do "
            "echo \"screen row $i ============================================================\"; "
            "done; printf 'LAST-ROW-%%s' MARK\r")

    def fill(self, term):
        term.write((self.FILL % self.p["scroll_lines"]).encode())
        return term.wait_for(b"LAST-ROW-MARK", 120)

    def reattach(self):
        tools = [t for t in self.tools if t in ("dwell", "tmux", "screen")]
        for tool in tools:
            term = self.create(tool, "ra")
            if not self.ready(term, "reattach " + tool) or not self.fill(term):
                self.res["errors"].append("reattach %s: could not fill the session" % tool)
            term.close(DETACH[tool])
        clients = tools + (["dwell-nohist"] if "dwell" in tools else [])
        times = {t: [] for t in clients}
        for rnd in range(self.p["reattach_rounds"]):
            order = list(clients)
            self.rng.shuffle(order)
            for tool in order:
                time.sleep(0.2)
                term = self.attach(tool, "ra")
                ok = term.wait_for(b"LAST-ROW-MARK", 30)
                t = time.perf_counter() - term.t0
                nbytes = term.bytes
                term.close(DETACH[tool])
                if ok:
                    times[tool].append((t, nbytes))
                else:
                    self.res["errors"].append("reattach %s: the screen did not come" % tool)
        for tool in clients:
            v = times[tool]
            if v:
                self.res["reattach"][tool] = {"runs": len(v), "median_ms": statistics.median(t for t, _ in v) * 1e3,
                                              "min_ms": min(t for t, _ in v) * 1e3,
                                              "max_ms": max(t for t, _ in v) * 1e3,
                                              "bytes_median": statistics.median(b for _, b in v)}
        for tool in tools:
            self.remove(tool, "ra")

    def memory(self):
        n = self.p["mem_n"]
        tools = [t for t in self.tools if t in ("dwell", "dtach", "tmux", "screen")]
        for tool in tools:
            before = procs()
            for i in range(n):
                term = self.create(tool, "m%d" % i)
                if not self.ready(term, "memory %s %d" % (tool, i)) or \
                        (tool != "dtach" and not self.fill(term)):
                    self.res["errors"].append("memory %s: session %d not filled" % (tool, i))
                term.close(DETACH[tool])
            time.sleep(2)
            now = procs()
            new = {p: v for p, v in now.items() if p not in before}
            comm = {"dwell": "dwell-host", "dtach": "dtach", "tmux": "tmux: server", "screen": "screen"}[tool]
            own = [p for p, (c, _, _) in new.items() if c == comm or (tool == "tmux" and c.startswith("tmux"))]
            if tool == "tmux":      # the server existed before (reattach) or is new: the one server
                own = [p for p, (c, _, u) in now.items() if c.startswith("tmux") and u == PW.pw_uid]
            shells = [p for p, (c, pp, _) in new.items() if c == "bash" and pp in own]
            spawner = [p for p, (c, _, _) in now.items() if c == "dwell-spawner"] if tool == "dwell" else []
            total = sum(pss_kib(p) for p in own)
            rec = {"n": n, "procs": len(own), "shells": len(shells), "pss_total_kib": total,
                   "pss_per_session_kib": total / n,
                   "shell_pss_kib": statistics.mean(pss_kib(p) for p in shells) if shells else None}
            if spawner:
                rec["spawner_pss_kib"] = sum(pss_kib(p) for p in spawner)
                rec["pss_per_session_with_spawner_kib"] = (total + rec["spawner_pss_kib"]) / n
            self.res["memory"][tool] = rec
            log("memory %s: %s" % (tool, rec))
            for i in range(n):
                self.remove(tool, "m%d" % i)
            if tool in ("dtach",):
                for p in own:
                    try:
                        os.kill(p, 9)
                    except ProcessLookupError:
                        pass
            time.sleep(1)

    def run(self):
        terms = {}
        for tool in ["direct"] + self.tools:
            term = self.create(tool, "lt")
            if self.ready(term, "latency " + tool):
                terms[tool] = term
            else:
                term.close()
        if "latency" in self.only:
            log("latency: %s" % ", ".join(terms))
            self.latency(terms)
        if "throughput" in self.only:
            log("throughput")
            self.throughput(terms)
        for tool, term in terms.items():
            term.close(DETACH.get(tool) or b"exit\r")
            if tool in ("dwell", "dwell-rec", "tmux", "screen"):
                self.remove(tool, "lt")
        if "reattach" in self.only:
            log("reattach")
            self.reattach()
        if "memory" in self.only:
            log("memory")
            self.memory()
        as_alice(["tmux", "-S", W + "/tmux.sock", "kill-server"])
        return self.res


# ====================================================================== report

def report(res):
    out = []
    lat, tp, ra, mem = res["latency"], res["throughput"], res["reattach"], res["memory"]
    name = {"direct": "bash on the terminal itself", "dwell": "dwell connect",
            "dwell-rec": "dwell connect, recorded (transcript: true)", "dtach": "dtach -a",
            "dwell-nohist": "dwell connect --no-history (the screen only)",
            "tmux": "tmux attach", "screen": "screen -r", "ssh": "ssh -tt (loopback)"}

    def ratio(a, b):
        return "%.2f×" % (a / b) if a and b else "–"

    out.append("#### Keystroke echo latency (a byte to the outer pty until its echo is back)\n")
    out.append("| path | samples | median (ms) | p99 (ms) | median vs dtach |")
    out.append("|---|---:|---:|---:|---:|")
    for t in ("direct", "dwell", "dwell-rec", "dtach", "tmux", "screen", "ssh"):
        if t in lat:
            r = lat[t]
            out.append("| %s | %d | %.3f | %.3f | %s |" % (name[t], r["n"], r["median_ms"], r["p99_ms"],
                                                         ratio(r["median_ms"], lat.get("dtach", {}).get("median_ms"))))
    out.append("\n#### Output throughput to an attached client (`cat` of %d MiB of 64-byte lines)\n"
               % res["params"]["file_mib"])
    out.append("| path | runs | median (s) | MiB/s | bytes to the outer pty | MiB/s vs tmux |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for t in ("direct", "dwell", "dwell-rec", "dtach", "tmux", "screen", "ssh"):
        if t in tp:
            r = tp[t]
            out.append("| %s | %d | %.3f | %.1f | %d | %s |" % (name[t], r["runs"], r["median_s"], r["mib_s"],
                                                             r["outer_bytes_median"],
                                                             ratio(r["mib_s"], tp.get("tmux", {}).get("mib_s"))))
    out.append("\n#### Reattach to a full screen with 10,000 lines of scrollback (start of the client until the "
               "screen's last row arrived)\n")
    out.append("| client | runs | median (ms) | min–max (ms) | bytes sent | vs `tmux attach` |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for t in ("dwell", "dwell-nohist", "tmux", "screen"):
        if t in ra:
            r = ra[t]
            out.append("| %s | %d | %.1f | %.1f–%.1f | %d | %s |" % (name[t], r["runs"], r["median_ms"], r["min_ms"],
                                                                  r["max_ms"], r["bytes_median"],
                                                                  ratio(r["median_ms"], ra.get("tmux", {}).get("median_ms"))))
    out.append("\n#### Memory per idle terminal session (80×24, 10,000 lines of scrollback; PSS, shells excluded)\n")
    out.append("| tool | sessions | processes | PSS per session (KiB) | vs screen | shell PSS (KiB) |")
    out.append("|---|---:|---:|---:|---:|---:|")
    for t in ("dwell", "dtach", "tmux", "screen"):
        if t in mem:
            r = mem[t]
            extra = ""
            if "spawner_pss_kib" in r:
                extra = " (%.0f with the shared spawner)" % r["pss_per_session_with_spawner_kib"]
            out.append("| %s | %d | %d | %.0f%s | %s | %s |" % (t, r["n"], r["procs"], r["pss_per_session_kib"], extra,
                                                           ratio(r["pss_per_session_kib"],
                                                                 mem.get("screen", {}).get("pss_per_session_kib")),
                                                           "%.0f" % r["shell_pss_kib"] if r["shell_pss_kib"] else "–"))
    out.append("\n#### Goals (issue 15)\n")
    out.append("| goal | measured | met |")
    out.append("|---|---|---|")

    def goal(text, a, b, ok, fmt):
        if a is None or b is None:
            out.append("| %s | not measured | – |" % text)
        else:
            out.append("| %s | %s | %s |" % (text, fmt % (a, b), "yes" if ok(a, b) else "**no**"))
    g = lambda d, t, k: d.get(t, {}).get(k)
    goal("echo latency at most dtach's", g(lat, "dwell", "median_ms"), g(lat, "dtach", "median_ms"),
         lambda a, b: a <= b, "%.3f ms vs %.3f ms")
    goal("throughput ≥ 2× tmux", g(tp, "dwell", "mib_s"), g(tp, "tmux", "mib_s"),
         lambda a, b: a >= 2 * b, "%.1f MiB/s vs %.1f MiB/s")
    goal("reattach faster than `tmux attach`", g(ra, "dwell", "median_ms"), g(ra, "tmux", "median_ms"),
         lambda a, b: a < b, "%.1f ms vs %.1f ms")
    goal("reattach faster than `tmux attach`, the screen only as tmux (`--no-history`)",
         g(ra, "dwell-nohist", "median_ms"), g(ra, "tmux", "median_ms"), lambda a, b: a < b, "%.1f ms vs %.1f ms")
    goal("memory per session below screen's", g(mem, "dwell", "pss_per_session_kib"),
         g(mem, "screen", "pss_per_session_kib"), lambda a, b: a < b, "%.0f KiB vs %.0f KiB")
    if res["errors"]:
        out.append("\nErrors: " + "; ".join(res["errors"]))
    return "\n".join(out) + "\n"


def main():
    argv = sys.argv[1:]
    if argv and argv[0] == "report":
        with open(argv[1]) as f:
            sys.stdout.write(report(json.load(f)))
        return 0
    out = argv[argv.index("--out") + 1]
    skip = argv[argv.index("--skip") + 1].split(",") if "--skip" in argv else []
    only = argv[argv.index("--only") + 1].split(",") if "--only" in argv else None
    res = Bench("--quick" in argv, skip, only).run()
    with open(out, "w") as f:
        json.dump(res, f, indent=1)
    sys.stdout.write(report(res))
    return 0


if __name__ == "__main__":
    sys.exit(main())
