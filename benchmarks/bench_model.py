"""SeqAttNet speed, memory and FLOPs per video, fast path against BMN's dense reference in the same run.

The same as `seqattnet bench`: T = 100, F = 400, Nc = 200, batch 16 (the dense reference at batch 2 on
the CPU, where 16 needs about 21 GB), random features and weights.

    python benchmarks/bench_model.py [--device cpu|cuda] [--json]
"""

from __future__ import annotations

import sys

from seqattnet.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
