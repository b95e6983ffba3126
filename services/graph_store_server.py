"""The graph store server process: one graph artifact served over Arrow Flight to any number of trainers.

Run it with ``python -m services.graph_store_server --graph URI [--host H] [--port P]``; it reads the
object store location from the settings (``PQ_*``). It announces its address on stdout once serving;
SIGTERM or SIGINT lets requests in flight finish and exits 0. Exit status 2 with a one-line ``error:``
when the artifact or the port cannot be used.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from platform_core.errors import UserFacingError


def main(argv: Sequence[str] | None = None) -> int:
    """The process entrypoint; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m services.graph_store_server",
                                     description="Serve a graph artifact (sampling included) over Arrow Flight.")
    parser.add_argument("--graph", required=True, help="URI (or key under the store root) of the graph artifact")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free one, announced)")
    args = parser.parse_args(argv)
    # Trainers share the cores: numba's workqueue layer degrades gracefully where OpenMP's spinning does not.
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
    from graph_engine.service.serve import serve_graph
    from platform_core.settings import load_settings

    try:
        serve_graph(load_settings(), args.graph, host=args.host, port=args.port)
    except (UserFacingError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
