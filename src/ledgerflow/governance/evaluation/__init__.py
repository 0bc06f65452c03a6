"""Evaluation of model versions: standard metrics, fairness by group and robustness tests,
computed on the client (:mod:`.runner`) and stored on the server (:mod:`.service`)."""
