"""Evaluate detectors on labelled corpora: the NAB score, event/range metrics, a benchmark runner.

* :mod:`admon.evaluation.nab` -- the Numenta Anomaly Benchmark score, exactly as NAB's
  scorer computes it (windows, scaled sigmoid, three profiles, 15 % probation,
  corpus-wide threshold optimisation, normalisation between null and perfect).
* :mod:`admon.evaluation.metrics` -- event-level F1 (Orion's overlap matching),
  point-adjusted F1, range-based precision/recall (Tatbul et al. 2018), AUC-PR.
* :mod:`admon.evaluation.corpus` -- NAB-format corpora and results files; labelled
  lakes (``admon lake generate`` / ``admon lake import-nab``) exported to that format.
* :mod:`admon.evaluation.runner` -- causal runs of registered detectors, NAB results,
  leaderboards and plots (the engine of ``admon benchmark``).
* :mod:`admon.evaluation.protocol` -- the NAB score under a shared, per-category and
  per-file threshold, and leave-one-category-out (:class:`ThresholdProtocol`).
* :mod:`admon.evaluation.synth` -- a synthetic labelled corpus of monitoring series
  (``admon corpus synth``), with a dev and a held-back split.

>>> from admon.testing.nab import FIXTURE_ROOT
>>> corpus = load_corpus(FIXTURE_ROOT)
>>> scores = read_results(FIXTURE_ROOT / "results", "numenta", corpus)
>>> round(corpus_nab_scores(corpus, scores)["standard"].normalized, 2)
73.96
"""

from admon.evaluation.corpus import (
    Corpus,
    CorpusFile,
    load_corpus,
    open_corpus,
    read_results,
    write_results,
)
from admon.evaluation.metrics import auc_pr, event_f1, point_adjusted_f1, range_precision_recall
from admon.evaluation.nab import PROFILES, corpus_nab_scores, nab_scores, optimize_threshold
from admon.evaluation.protocol import (
    ProtocolScores,
    ThresholdProtocol,
    corpus_threshold_protocol,
    threshold_protocol,
)

__all__ = [
    "PROFILES",
    "ProtocolScores",
    "ThresholdProtocol",
    "Corpus",
    "CorpusFile",
    "auc_pr",
    "corpus_nab_scores",
    "corpus_threshold_protocol",
    "event_f1",
    "load_corpus",
    "nab_scores",
    "open_corpus",
    "optimize_threshold",
    "point_adjusted_f1",
    "range_precision_recall",
    "read_results",
    "threshold_protocol",
    "write_results",
]
