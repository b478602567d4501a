"""Fingerprints of what runs compute: the README command and a short run of every agent.

A refactor that must change no result is checked by running this before and after it: each
run's ``metrics.jsonl`` rows and final ``params.msgpack`` are hashed (sha256), and two
fingerprint files that agree say the runs ended bit for bit the same.

    python benchmarks/result_fingerprints.py --out /tmp/before.json
    ... change the code ...
    python benchmarks/result_fingerprints.py --out /tmp/after.json --compare /tmp/before.json

``--only NAME`` runs one entry (see RUNS). Every run is on this machine's JAX backend; the
fingerprints are only comparable on the same machine, JAX version and backend.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

from records import README_COMMAND

# A short run of every agent: small networks and buffers, two evaluations after the start.
SHORT = (
  "--env reacher --num_envs 16 --num_timesteps 6000 --num_evals 2 --num_eval_envs 16 "
  "--h_dim 32 --n_hidden 2"
)
OFF_POLICY = "--min_replay_size 64 --max_replay_size 1000 --unroll_length 25 --batch_size 64"
RUNS = {
  "readme": README_COMMAND,
  "crl": f"crl {SHORT} {OFF_POLICY} --repr_dim 16",
  "sac": f"sac {SHORT} {OFF_POLICY}",
  "sac_her": f"sac {SHORT} {OFF_POLICY} --use_her",
  "td3": f"td3 {SHORT} {OFF_POLICY}",
  "td3_her": f"td3 {SHORT} {OFF_POLICY} --use_her",
  "gcsl": f"gcsl {SHORT} {OFF_POLICY}",
  "td_infonce": f"td_infonce {SHORT} {OFF_POLICY} --repr_dim 16",
  "qrl": f"qrl {SHORT} {OFF_POLICY}",
  "ppo": f"ppo {SHORT} --unroll_length 10 --num_minibatches 4 --dense_reward",
}


def _sha(data: bytes) -> str:
  return hashlib.sha256(data).hexdigest()[:16]


def column_hashes(rows: bytes) -> dict[str, str]:
  """The hash of each column of ``metrics.jsonl`` (its values, row by row, as written)."""
  table = [json.loads(line) for line in rows.decode().splitlines() if line.strip()]
  names = sorted({k for row in table for k in row})
  return {n: _sha(json.dumps([row.get(n) for row in table]).encode()) for n in names}


def fingerprint(command: str, root: str, name: str) -> dict:
  """Runs ``goalax train COMMAND`` into ``root/name`` and hashes its rows (whole and by column)
  and parameters."""
  run_dir = os.path.join(root, name)
  main = "from goalax.cli import main; main()"
  argv = [sys.executable, "-c", main, "train", *command.split(), "--run_dir", root]
  argv += ["--exp_name", name, "--no-plot_curves", "--no-progress"]
  subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
  with open(os.path.join(run_dir, "metrics.jsonl"), "rb") as f:
    rows = f.read()
  with open(os.path.join(run_dir, "params.msgpack"), "rb") as f:
    params = f.read()
  return {
    "command": command,
    "rows": _sha(rows),
    "params": _sha(params),
    "columns": column_hashes(rows),
  }


def main() -> None:
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--out", required=True, help="where to write the fingerprints (json)")
  parser.add_argument("--compare", help="an earlier fingerprint file to compare against")
  parser.add_argument("--only", action="append", choices=sorted(RUNS), help="run only these")
  parser.add_argument("--keep", help="keep the run folders here (default: a temporary folder)")
  args = parser.parse_args()
  names = args.only or list(RUNS)
  with tempfile.TemporaryDirectory() as temporary:
    root = args.keep or temporary
    prints = {}
    for name in names:
      prints[name] = fingerprint(RUNS[name], root, name)
      print(name, prints[name]["rows"], prints[name]["params"], flush=True)
  with open(args.out, "w") as f:
    json.dump(prints, f, indent=1)
  if args.compare:
    with open(args.compare) as f:
      before = json.load(f)
    differ = []
    for n in [n for n in names if n in before]:
      old, new = before[n], prints[n]
      if (old["rows"], old["params"]) == (new["rows"], new["params"]):
        continue
      differ.append(n)
      columns = old.get("columns", {})
      moved = sorted(
        c for c in {*columns, *new["columns"]} if columns.get(c) != new["columns"].get(c)
      )
      same = "the same" if old["params"] == new["params"] else "DIFFERENT"
      print(f"{n}: parameters {same}; columns that differ: {moved or 'not recorded before'}")
    print("bit for bit:", "yes" if not differ else f"NO, differ: {differ}")
    sys.exit(1 if differ else 0)


if __name__ == "__main__":
  main()
