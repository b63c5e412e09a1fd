"""FLOps's Python runtime for ML repos: the templates and building blocks of the original FLOps layout
(`flops_utils.ml_repo_templates`, `flops_utils.ml_repo_building_blocks`), the node data lookup and mock
data provider, and the worker the learner drives over FLT1 frames (docs/ml-repo-contract.md)."""
