"""Cross-language story clustering (see aggregator/cluster/stage.py).

`run(conn, config, progress=None, rebuild=False)` is the stage entry point.
"""

from aggregator.cluster.stage import run

__all__ = ["run"]
