"""Peak memory (RSS) of ``mtmc track`` on a short and a long synthetic scene: it should not grow with length.

    python benchmarks/track_memory.py [--durations 20,120] [--workdir work/bench/track_memory]
        [--setting "bytetrack=tracker.name=bytetrack" ...]

Scenes are synthesized once into the work folder (4 cameras, 10 people, 320x240 @ 15 fps; the simulated
detector reads the ground truth, so image size does not matter).  Each ``mtmc track`` runs in its own
process; its peak RSS is the kernel's ``ru_maxrss`` of that process (``os.wait4``).  A setting is
``label=override[,override...]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = [
    "bytetrack=tracker.name=bytetrack",
    "bytetrack+oracle=tracker.name=bytetrack,reid.model=oracle",
    "botsort+oracle=tracker.name=botsort,reid.model=oracle",
]


def peak_rss_mib(argv: list[str]) -> float:
    """Run ``python -m mtmc.cli.main ARGV`` in a child process; its peak RSS in MiB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "mtmc.cli.main", *argv], env=env, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"mtmc {' '.join(argv)} failed with exit code {proc.returncode}")
    return usage.ru_maxrss / 1024.0  # Linux reports KiB


def scene(workdir: Path, duration: float) -> Path:
    out = workdir / f"scene_{duration:g}s"
    if not (out / "scene.json").is_file():
        peak_rss_mib(["synth", str(out), "--duration", f"{duration:g}", "--size", "320x240", "--quiet",
                      "--overwrite", "seed=0"])
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--durations", default="20,120", help="scene lengths in seconds")
    ap.add_argument("--workdir", default=str(ROOT / "work" / "bench" / "track_memory"))
    ap.add_argument("--setting", action="append", default=None, help="label=override[,override...]")
    args = ap.parse_args()
    durations = [float(d) for d in args.durations.split(",")]
    workdir = Path(args.workdir)
    scenes = {d: scene(workdir, d) for d in durations}
    print("| setting | " + " | ".join(f"peak RSS {d:g} s (MiB)" for d in durations) + " | growth |")
    print("|---|" + "---|" * len(durations) + "---|")
    for setting in args.setting or SETTINGS:
        label, overrides = setting.split("=", 1)
        peaks = []
        for d in durations:
            with tempfile.TemporaryDirectory(dir=workdir) as run:
                peaks.append(peak_rss_mib(["track", str(scenes[d]), "-c", str(ROOT / "configs" / "detectors" / "simulated.yaml"), "-o", run, "--quiet", *overrides.split(",")]))
        growth = 100.0 * (peaks[-1] / peaks[0] - 1.0)
        print(f"| {label} | " + " | ".join(f"{p:.0f}" for p in peaks) + f" | {growth:+.1f} % |", flush=True)


if __name__ == "__main__":
    main()
