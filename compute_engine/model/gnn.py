"""The heterogeneous message-passing GNN over sampled temporal subgraphs.

Each layer runs one convolution per edge type (``HeteroConv``; the messages reaching a node type through
several edge types are summed), then per node type: LayerNorm, ReLU, dropout and a residual connection.
The default convolution is GraphSAGE (``SAGEConv`` with a ReLU projection of each neighbour and ``mean``,
``sum`` or ``max`` aggregation; ``sum`` keeps counts, which often carry the signal: how many orders, how many
returns); ``attention=True`` swaps in ``GATv2Conv`` (multi-head attention over neighbours).
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import Tensor, nn
from torch_geometric.nn import GATv2Conv, HeteroConv, SAGEConv

__all__ = ["HeteroGNN", "AGGREGATIONS"]

AGGREGATIONS = ("mean", "sum", "max")
EdgeType = tuple[str, str, str]


class HeteroGNN(nn.Module):
    """Stacked heterogeneous convolutions with normalisation and residuals.

    Args:
        node_types: all node types.
        edge_types: all edge types ``(src, rel, dst)``; messages flow from ``src`` to ``dst``.
        channels: width of every node embedding.
        num_layers: message-passing layers (0: no message passing).
        aggr: neighbour aggregation of SAGEConv (``mean``, ``sum`` or ``max``).
        attention: use GATv2Conv instead of SAGEConv.
        heads: attention heads (``channels`` must be divisible by it).
        dropout: dropout after each layer.

    Raises:
        ValueError: an unknown aggregation, or channels not divisible by heads.
    """

    def __init__(self, node_types: Sequence[str], edge_types: Sequence[EdgeType], channels: int, num_layers: int,
                 *, aggr: str = "sum", attention: bool = False, heads: int = 4, dropout: float = 0.1) -> None:
        super().__init__()
        if aggr not in AGGREGATIONS:
            raise ValueError(f"aggr must be one of {AGGREGATIONS}, got {aggr!r}")
        if attention and channels % heads:
            raise ValueError(f"channels ({channels}) must be divisible by heads ({heads})")
        self.node_types = list(node_types)
        self.edge_types = [tuple(e) for e in edge_types]
        self.dropout = dropout
        self.convs = nn.ModuleList()
        self.norms = nn.ModuleList()
        for _ in range(num_layers):
            if attention:
                convs = {e: GATv2Conv((channels, channels), channels // heads, heads=heads, concat=True,
                                      add_self_loops=False) for e in self.edge_types}
            else:
                # project=True: each neighbour passes a ReLU layer before aggregation, so a sum can count
                # neighbours by what they are (e.g. orders of the last 30 days), not only add features up.
                convs = {e: SAGEConv((channels, channels), channels, aggr=aggr, project=True)
                         for e in self.edge_types}
            self.convs.append(HeteroConv(convs, aggr="sum"))
            self.norms.append(nn.ModuleDict({t: nn.LayerNorm(channels) for t in self.node_types}))

    @property
    def num_layers(self) -> int:
        return len(self.convs)

    def forward(self, x: dict[str, Tensor], edge_index: dict[EdgeType, Tensor], *,
                num_sampled_nodes: dict[str, list[int]] | None = None,
                num_sampled_edges: dict[EdgeType, list[int]] | None = None) -> dict[str, Tensor]:
        """Args:
            x: node type -> [n, channels] embeddings.
            edge_index: edge type -> [2, m] (row: source positions, col: destination positions).
            num_sampled_nodes: node type -> nodes per hop (nodes ordered by hop); with
                ``num_sampled_edges``, each layer skips the nodes and edges that can no longer reach a seed.
            num_sampled_edges: edge type -> edges per hop (edges ordered by hop).

        Returns:
            node type -> embeddings after all layers: all nodes, or with trimming only those within
            ``hops - num_layers`` hops of a seed (the seeds always come first).
        """
        # Every edge type runs, also without edges, so that a node's update never depends on whether
        # other subgraphs of the batch happen to have edges of some type.
        empty = next(iter(x.values())).new_zeros((2, 0), dtype=torch.long)
        edges = {e: edge_index.get(e, empty) for e in self.edge_types}
        trim = num_sampled_nodes is not None and num_sampled_edges is not None
        hops = len(next(iter(num_sampled_edges.values()), [])) if trim else 0
        for layer, (conv, norms) in enumerate(zip(self.convs, self.norms)):
            if trim and layer > 0:
                # Layer l only needs edges of hops < hops - l and the nodes they touch (a prefix of each type).
                keep = hops - layer
                x = {t: h[:sum(num_sampled_nodes[t][:keep + 1])] for t, h in x.items()}
                edges = {e: ei[:, :sum(num_sampled_edges[e][:keep])] if e in num_sampled_edges else ei
                         for e, ei in edges.items()}
            out = conv(x, edges)
            x = {t: h if t not in out else
                 h + nn.functional.dropout(torch.relu(norms[t](out[t])), self.dropout, self.training)
                 for t, h in x.items()}
        return x
