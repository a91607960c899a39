"""Run every benchmark script in this folder, one after the other, and stop at the first failure."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SCRIPTS = ["bench_evaluation.py", "bench_diagnosis.py", "bench_soft_nms.py", "bench_data_loading.py", "bench_model.py",
           "bench_heads.py"]

if __name__ == "__main__":
    here = Path(__file__).parent
    for name in SCRIPTS:
        print(f"== {name}", flush=True)
        code = subprocess.call([sys.executable, str(here / name), *sys.argv[1:]])
        if code != 0:
            sys.exit(code)
