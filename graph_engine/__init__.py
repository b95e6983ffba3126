"""The graph engine: serves sampled temporal subgraphs and feature rows to trainers.

- :mod:`graph_engine.graph_store`: PyG ``GraphStore`` over graph artifacts (memory-mapped, read-only).
- :mod:`graph_engine.sampling`: the compiled temporal heterogeneous neighbour sampler (PyG ``BaseSampler``).
- :mod:`graph_engine.features`: PyG ``FeatureStore`` over feature artifacts with batched gathers.
- :mod:`graph_engine.synthetic`: a synthetic relational graph for tests and benchmarks.
"""
