"""Temporal heterogeneous neighbour sampling.

- :mod:`graph_engine.sampling.kernels`: compiled (numba) building blocks and the negative-node draw.
- :mod:`graph_engine.sampling.multihop`: the multi-hop sampling of a whole request in compiled calls.
- :mod:`graph_engine.sampling.helpers`: helper threads that join the calling thread in those calls.
- :mod:`graph_engine.sampling.subgraph`: requests, results and the in-process engine over CSR arrays.
- :mod:`graph_engine.sampling.sampler`: :class:`TemporalNeighborSampler`, the PyG ``BaseSampler``.
"""
