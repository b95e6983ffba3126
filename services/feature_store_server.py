"""The feature store server process: feature artifacts served over Arrow Flight to any number of trainers.

Run it with ``python -m services.feature_store_server --features URI [URI ...] [--host H] [--port P]``;
each URI is a feature artifact or a folder of them. It reads the object store location from the settings
(``PQ_*``), announces its address on stdout once serving, and exits 0 on SIGTERM or SIGINT after the
requests in flight. Exit status 2 with a one-line ``error:`` when an artifact or the port cannot be used.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from platform_core.errors import UserFacingError


def main(argv: Sequence[str] | None = None) -> int:
    """The process entrypoint; returns the exit status."""
    parser = argparse.ArgumentParser(prog="python -m services.feature_store_server",
                                     description="Serve feature artifacts over Arrow Flight.")
    parser.add_argument("--features", required=True, nargs="+",
                        help="URIs (or keys under the store root) of feature artifacts or folders of them")
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="TCP port (default: any free one, announced)")
    args = parser.parse_args(argv)
    # Trainers share the cores: numba's workqueue layer degrades gracefully where OpenMP's spinning does not.
    os.environ.setdefault("NUMBA_THREADING_LAYER", "workqueue")
    from graph_engine.service.serve import serve_features
    from platform_core.settings import load_settings

    try:
        serve_features(load_settings(), args.features, host=args.host, port=args.port)
    except (UserFacingError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
