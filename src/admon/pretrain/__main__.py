"""``python -m admon.pretrain worker DIR``: run one worker of the pretraining job in DIR (rank from ADMON_WORKER_ID)."""

from __future__ import annotations

import sys

from admon.errors import AdmonError
from admon.pretrain.launcher import run_worker


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] != "worker":
        print("usage: python -m admon.pretrain worker JOB_DIR", file=sys.stderr)
        return 2
    try:
        result = run_worker(argv[1])
    except AdmonError as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 3
    print(f"done: {result.steps} steps in {result.seconds:.1f} s, {result.generations} generation(s), "
          f"{result.retried_reads} retried read(s)", file=sys.stderr, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
