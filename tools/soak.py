#!/usr/bin/env python3
"""Soak test of the dashboard, run by hand (not in CI): dynq in tmux for --minutes (default 15)
with random keys, slider changes and resizes every few hundred milliseconds, and every two
minutes a trip to dimension 4096 and back. Standard library only (no PyTorch).

It checks what a dashboard left running for an afternoon must do and prints the figures:
- nothing panics, and dynq exits 0 on `q` with the terminal restored (alternate screen and
  mouse reporting off);
- resident memory, sampled at the same small configuration every minute once the models are
  rebuilt, stays within 10% of its level after the first minute;
- keys keep answering within 100 ms while models build (`?` is sent and the help overlay
  must appear on the screen).

    python3 tools/soak.py [--minutes 15] [--seed 1]
"""

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SESSION = "dynq-soak"
# Indices into the sliders' steps (src/tui/sliders.rs), tracked as keys are sent.
DIM_STEPS = [8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096]
ROWS = ["dimension", "sequence", "batch", "layers", "threads"]
LENGTHS = {"dimension": len(DIM_STEPS), "sequence": 10, "batch": 9, "layers": 4, "threads": os.cpu_count() or 1}
# How far the random walk may take each slider (the trip to 4096 is separate): keeps one
# forward well under a second so the session measures many configurations.
RANDOM_CAP = {"dimension": DIM_STEPS.index(1024), "sequence": 4, "batch": 4, "layers": 1, "threads": 99}
SIZES = [(120, 40), (80, 24), (200, 60), (100, 30), (60, 15), (160, 50)]


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", *args], check=True, capture_output=True, text=True).stdout


def keys(*names: str) -> None:
    tmux("send-keys", "-t", SESSION, *names)


def screen() -> str:
    return tmux("capture-pane", "-p", "-t", SESSION)


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Dashboard:
    """The keys sent so far and the slider positions they lead to."""

    def __init__(self) -> None:
        self.selected = 0
        self.position = {row: 0 for row in ROWS}
        self.paused = False
        self.actions = 0
        self.resizes = 0

    def select(self, row: str) -> None:
        target = ROWS.index(row)
        while self.selected != target:
            up = self.selected > target
            keys("Up" if up else "Down")
            self.selected += -1 if up else 1

    def move(self, row: str, index: int) -> None:
        self.select(row)
        index = max(0, min(index, LENGTHS[row] - 1))
        while self.position[row] != index:
            right = index > self.position[row]
            keys("Right" if right else "Left")
            self.position[row] += 1 if right else -1

    def minimal(self) -> None:
        """Every slider at its first step, running, help closed, the usual size."""
        if self.paused:
            keys("Space")
            self.paused = False
        for row in ROWS:
            self.move(row, 0)
        resize(120, 40)

    def random_action(self, rng: random.Random) -> None:
        self.actions += 1
        roll = rng.random()
        if roll < 0.55:
            row = rng.choice(ROWS)
            step = rng.choice([-1, 1])
            self.move(row, min(self.position[row] + step, RANDOM_CAP[row]))
        elif roll < 0.65:
            width, height = rng.choice(SIZES)
            resize(width, height)
            self.resizes += 1
        elif roll < 0.72:
            keys("Space")
            self.paused = not self.paused
        elif roll < 0.80:
            keys("?", "?")
        elif roll < 0.86:
            keys("i", "i")  # separate input and hidden size, then join them again
        else:
            keys("r")


def resize(width: int, height: int) -> None:
    tmux("resize-window", "-t", SESSION, "-x", str(width), "-y", str(height))


def key_latency_ms() -> float:
    """Sends `?` and waits for the help overlay to appear; closes it again."""
    start = time.perf_counter()
    keys("?")
    while "show / hide this help" not in screen():
        if time.perf_counter() - start > 5:
            keys("?")
            return float("inf")
        time.sleep(0.002)
    latency = (time.perf_counter() - start) * 1000
    keys("?")
    while "show / hide this help" in screen() and time.perf_counter() - start < 10:
        time.sleep(0.002)
    return latency


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=15)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if not shutil.which("tmux"):
        print("soak: needs tmux (apt-get install tmux)", file=sys.stderr)
        return 2
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    binary = ROOT / "target" / "release" / "dynq"
    work = Path(tempfile.mkdtemp(prefix="dynq-soak-"))
    status, stderr = work / "status", work / "stderr"
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    tmux("new-session", "-d", "-s", SESSION, "-x", "120", "-y", "40",
         f"cd {work} && {binary} 2>{stderr}; echo $? >{status}; sleep 3600")
    time.sleep(1.5)
    pid = int(subprocess.run(["pgrep", "-nf", str(binary)], capture_output=True, text=True).stdout.split()[0])
    rng = random.Random(args.seed)
    dash = Dashboard()
    dash.minimal()
    start = time.monotonic()
    end = start + args.minutes * 60
    next_sample, next_trip = start + 60, start + 120
    samples: list[tuple[float, int]] = []
    building_latencies: list[float] = []
    other_latencies: list[float] = []
    trips = 0
    while time.monotonic() < end:
        now = time.monotonic()
        if now >= next_sample:
            dash.minimal()
            time.sleep(6)  # the small models rebuilt and measuring again
            samples.append((time.monotonic() - start, rss_kib(pid)))
            other_latencies.append(key_latency_ms())
            next_sample += 60
        elif now >= next_trip:
            dash.minimal()
            dash.move("dimension", len(DIM_STEPS) - 1)
            time.sleep(0.3)
            for _ in range(5):  # while the 4096 models build
                building_latencies.append(key_latency_ms())
                time.sleep(0.5)
            time.sleep(8)
            dash.move("dimension", 0)
            for _ in range(3):  # and while they are dropped for the small ones
                building_latencies.append(key_latency_ms())
            trips += 1
            next_trip += 120
        else:
            dash.random_action(rng)
            time.sleep(rng.uniform(0.15, 0.45))
    dash.minimal()
    time.sleep(2)
    alive_before_quit = Path(f"/proc/{pid}").exists()
    keys("q")
    for _ in range(100):
        if status.exists():
            break
        time.sleep(0.1)
    code = status.read_text().strip() if status.exists() else "did not exit"
    restored = tmux("display", "-p", "-t", SESSION, "#{alternate_on} #{mouse_any_flag}").split()
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)
    panicked = "panicked" in stderr.read_text()

    baseline = samples[0][1] if samples else 0
    worst = max((abs(kib - baseline) / baseline * 100 for _, kib in samples), default=0.0)
    print(f"soak: {args.minutes:g} min, seed {args.seed}: {dash.actions} random actions, "
          f"{dash.resizes} resizes, {trips} trips to dimension 4096 and back")
    print("resident memory at the minimal configuration (MiB): "
          + ", ".join(f"{t / 60:.0f} min {kib / 1024:.1f}" for t, kib in samples))
    print(f"largest change from the first minute's level: {worst:.1f}% (limit 10%)")
    if building_latencies:
        print(f"key to screen while models build: median {statistics.median(building_latencies):.0f} ms, "
              f"max {max(building_latencies):.0f} ms over {len(building_latencies)} keys (limit 100 ms)")
    if other_latencies:
        print(f"key to screen otherwise: median {statistics.median(other_latencies):.0f} ms, "
              f"max {max(other_latencies):.0f} ms")
    print(f"alive until q: {alive_before_quit}; exit status {code}; panicked: {panicked}; "
          f"terminal restored (alternate screen, mouse off): {restored == ['0', '0']}")
    ok = (alive_before_quit and code == "0" and not panicked and restored == ["0", "0"]
          and worst <= 10 and all(l <= 100 for l in building_latencies))
    print("soak:", "passed" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
