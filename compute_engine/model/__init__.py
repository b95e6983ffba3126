"""The GNN model: column encoders, temporal encoding, heterogeneous message passing and task heads.

- :mod:`~compute_engine.model.encoders`: per-table column encoders by semantic type;
- :mod:`~compute_engine.model.text`: hashed n-gram bags of text columns;
- :mod:`~compute_engine.model.temporal`: node age relative to the seed's anchor time;
- :mod:`~compute_engine.model.gnn`: the heterogeneous GNN (GraphSAGE or GATv2);
- :mod:`~compute_engine.model.heads`: heads of every task type;
- :mod:`~compute_engine.model.model`: :class:`ModelPlan`, :class:`ModelSpec` and :class:`GraphModel`.
"""

from compute_engine.model.model import GraphModel, ModelPlan, ModelSpec, PlanError, SubgraphBatch

__all__ = ["GraphModel", "ModelPlan", "ModelSpec", "PlanError", "SubgraphBatch"]
