"""Pretraining of the foundation detector: a generated corpus, a small causal model, a resilient trainer.

* :mod:`admon.pretrain.corpus` -- kernel-composed monitoring-like series with labelled anomalies.
* :mod:`admon.pretrain.model` -- causal normalisation, the dilated causal CNN, quantiles -> surprise.
* :mod:`admon.pretrain.trainer` -- torch.distributed data-parallel training with stable ranks,
  atomic checkpoints, resume and bounded failure detection.
* :mod:`admon.pretrain.launcher` -- ``admon pretrain``: the job folder, local workers, restarts.
* :mod:`admon.pretrain.weights` -- the shipped weights and their hash-pinned manifest.

Nothing here runs at import time, and torch is imported only where it is used.
"""
