"""`python -m llava.train.launch [torchrun options] -m llava.train.train ...`: torchrun, but a failed
run ends with its root error printed once, last.

torchrun itself answers a failed worker with about 30 lines (its own traceback and a failure table)
under the worker's real error. This runs torchrun's launcher in this process (same options, same
signal handling; the stage scripts exec it) and on failure prints one line instead: the first
failing rank's error, from the record each worker writes (llava/train/failures.py).
"""
from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import parse_args, run

    from llava.train.failures import root_failure

    args = parse_args(argv)
    try:
        run(args)
    except ChildFailedError as e:
        rank, line = root_failure(e.failures)
        sys.stdout.flush()
        print(f"llava-train failed on rank {rank}: {line}", file=sys.stderr, flush=True)
        code = e.failures[rank].exitcode
        return code if code > 0 else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
