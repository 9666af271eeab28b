#!/usr/bin/env python3
"""Runs a load generator and samples the server under load (scripts/bench).

    sample.py --pid PID [--sync] [--interval 0.25] -- CMD ...
    sample.py --pid PID --idle

Server CPU% is the change of utime+stime in /proc/PID/stat (the server and all
its threads) over the wall time of the window; 100 means one core. RSS max is
the largest VmRSS seen, read every --interval seconds. The load generator's CPU
comes from its rusage (wait4); "other CPU%" is the machine's busy time
(/proc/stat) minus the server and the load generator: noise from other work.

With --sync the window opens at the line "LOADGEN START" on the command's
standard output and closes at "LOADGEN STOP" (or its exit); otherwise it spans
the command's life. The command's last JSON line becomes "result". Prints one
JSON object.
"""
import argparse
import json
import os
import subprocess
import sys
import threading
import time

TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu_secs(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is state (field 3); utime is field 14, stime 15.
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return 0.0


def system_busy_secs():
    with open("/proc/stat") as f:
        parts = f.readline().split()[1:]
    v = [int(x) for x in parts]
    # user nice system idle iowait irq softirq steal (guest is inside user)
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
    return busy / TICK


class Window:
    def __init__(self, pid, interval):
        self.pid = pid
        self.interval = interval
        self.open = False
        self.closed = False
        self.rss_max = 0.0
        self.samples = 0
        self.lock = threading.Lock()
        self.loader_pid = None
        self.ld0 = self.ld1 = None

    def loader_cpu(self):
        try:
            return proc_cpu_secs(self.loader_pid)
        except (OSError, TypeError):
            return None

    def start(self):
        with self.lock:
            self.t0 = time.monotonic()
            self.cpu0 = proc_cpu_secs(self.pid)
            self.sys0 = system_busy_secs()
            self.ld0 = self.loader_cpu()
            self.rss_max = rss_mib(self.pid)
            self.open = True

    def stop(self):
        with self.lock:
            if not self.open or self.closed:
                return
            self.t1 = time.monotonic()
            self.cpu1 = proc_cpu_secs(self.pid)
            self.sys1 = system_busy_secs()
            self.ld1 = self.loader_cpu()
            self.rss_max = max(self.rss_max, rss_mib(self.pid))
            self.closed = True

    def sampler(self):
        while not self.closed:
            time.sleep(self.interval)
            with self.lock:
                if self.open and not self.closed:
                    try:
                        self.rss_max = max(self.rss_max, rss_mib(self.pid))
                        self.samples += 1
                    except OSError:
                        return


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--interval", type=float, default=0.25)
    ap.add_argument("--sync", action="store_true")
    ap.add_argument("--idle", action="store_true")
    ap.add_argument("cmd", nargs=argparse.REMAINDER)
    a = ap.parse_args()
    if a.idle:
        print(json.dumps({"rss_mib": round(rss_mib(a.pid), 1)}))
        return 0
    cmd = a.cmd[1:] if a.cmd and a.cmd[0] == "--" else a.cmd
    if not cmd:
        ap.error("no command")
    w = Window(a.pid, a.interval)
    t = threading.Thread(target=w.sampler, daemon=True)
    child = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    w.loader_pid = child.pid
    if not a.sync:
        w.start()
    t.start()
    lines = []
    for line in child.stdout:
        line = line.rstrip("\n")
        if line == "LOADGEN START":
            w.start()
        elif line == "LOADGEN STOP":
            w.stop()
        else:
            lines.append(line)
    _, status, usage = os.wait4(child.pid, 0)
    if not w.open:
        w.start()
    w.stop()
    wall = w.t1 - w.t0
    server = (w.cpu1 - w.cpu0) / wall * 100
    if w.ld0 is not None and w.ld1 is not None:
        loader = (w.ld1 - w.ld0) / wall * 100
    else:
        loader = (usage.ru_utime + usage.ru_stime) / wall * 100
    busy = (w.sys1 - w.sys0) / wall * 100
    result = None
    for line in reversed(lines):
        if line.startswith("{"):
            try:
                result = json.loads(line)
                break
            except ValueError:
                pass
    out = {
        "exit_status": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 3),
        "server_cpu_pct": round(server, 1),
        "rss_max_mib": round(w.rss_max, 1),
        "rss_samples": w.samples,
        "loader_cpu_pct": round(loader, 1),
        "other_cpu_pct": round(max(0.0, busy - server - loader), 1),
        "result": result,
    }
    if result is None:
        out["output"] = lines[-20:]
    print(json.dumps(out))
    return 0 if out["exit_status"] == 0 and result is not None else 1


if __name__ == "__main__":
    sys.exit(main())
