"""Training tokens/s on 1 process against N processes (torchrun, gloo on CPU), whole runs.

    python bench/ddp_speed.py                       # 600 CoNLL-2003 sentences, 1 epoch, 1 vs 2 processes
    python bench/ddp_speed.py --sentences 1200 --repeats 3 --nproc 2

Each side is ``python -m torch.distributed.run --nproc-per-node N -m tagger train`` on the same
file with the same global batch, alternating, so machine drift hits both. The figure is the train
tokens/s the run itself prints (every process's tokens summed, over the time spent in steps) and
the whole process's wall time. With N processes each gets ``cores / N`` torch threads, so on a
2-core machine the comparison is 1 process x 2 threads against 2 processes x 1 thread. Saves
JSON with the machine's description to bench/results/ddp_speed.json.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.machine import describe  # noqa: E402

CONLL = ROOT.parent / "shared" / "data" / "conll2003" / "train.txt"
RATE = re.compile(r"\(([\d.]+) s, ([\d.]+) train tokens/s\)")


def _sentences(path: Path, n: int) -> str:
    blocks = [b for b in path.read_text(encoding="utf-8").split("\n\n") if b.strip() and "-DOCSTART-" not in b]
    return "\n\n".join(blocks[:n]) + "\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run(nproc: int, data: Path, out: Path, args) -> dict:
    cores = os.cpu_count() or 1
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false",
           "OMP_NUM_THREADS": str(max(1, cores // nproc))}
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", str(nproc),
               "--master-addr", "127.0.0.1", "--master-port", str(_free_port()),
               "-m", "tagger", "train", "--train", str(data), "--out", str(out),
               "--epochs", "1", "--batch-size", str(args.batch_size), "--seed", "13"]
    t0 = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if done.returncode != 0:
        raise SystemExit(f"{nproc} processes failed:\n{done.stderr[-3000:]}")
    found = RATE.search(done.stderr)
    meta = json.loads((out / "seqlab.json").read_text(encoding="utf-8"))
    return {"processes": nproc, "threads_each": int(env["OMP_NUM_THREADS"]), "wall_s": round(wall, 1),
            "train_s": float(found.group(1)), "train_tokens_per_s": float(found.group(2)),
            "world_size": meta.get("train_config", {}).get("world_size")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sentences", type=int, default=600)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--nproc", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "ddp_speed.json"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seqlab-ddp-") as tmp:
        data = Path(tmp) / "train.txt"
        data.write_text(_sentences(CONLL, args.sentences), encoding="utf-8")
        runs = []
        for i in range(args.repeats):
            for n in (1, args.nproc) if i % 2 == 0 else (args.nproc, 1):
                row = _run(n, data, Path(tmp) / f"model-{n}-{i}", args)
                print(json.dumps(row), flush=True)
                runs.append(row)
    sides = {}
    for n in (1, args.nproc):
        mine = [r for r in runs if r["processes"] == n]
        sides[str(n)] = {"train_tokens_per_s": statistics.median(r["train_tokens_per_s"] for r in mine),
                         "wall_s": statistics.median(r["wall_s"] for r in mine)}
    ratio = sides[str(args.nproc)]["train_tokens_per_s"] / sides["1"]["train_tokens_per_s"]
    result = {"benchmark": "ddp_speed", "machine": describe(), "sentences": args.sentences,
              "batch_size": args.batch_size, "runs": runs, "median": sides, "ratio_tokens_per_s": round(ratio, 3)}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"| processes | train tokens/s | whole run |\n|---:|---:|---:|")
    for n, side in sides.items():
        print(f"| {n} | {side['train_tokens_per_s']:.0f} | {side['wall_s']:.1f} s |")
    print(f"{args.nproc} processes / 1 process: {ratio:.2f}x tokens/s; saved {args.out}")


if __name__ == "__main__":
    main()
