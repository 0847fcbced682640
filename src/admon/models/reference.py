"""Which model an entity runs: one typed reference, one loader, one scorer protocol.

An entity names its model with ``inference_model`` (and ``inference_namespace``);
:func:`parse_model_ref` is the one place that reads them, into one of:

* :class:`StoredModelRef` -- ``namespace/model`` in the model store (``inference_model =
  "xrootd-model"``), its production version unless a version is given;
* :class:`RemoteModelRef` -- a model served over the Open Inference Protocol elsewhere
  (``inference_model = "http://host:8080/v2/models/admon-dev:xrootd-model"``, optionally
  ``.../versions/3``);
* :class:`FallbackModelRef` -- the built-in fallback (``inference_model =
  "builtin:robust_zscore"``): a robust z-score fitted, and calibrated, on each window itself.

:func:`load_scorer` resolves a reference into a :class:`~admon.models.scoring.Scorer`
(:class:`~admon.models.store.TrainedModel`, :class:`~admon.models.oip.RemoteScorer` or
:class:`FallbackScorer`), loaded only if its content hash is ``expected_sha256`` (what the
registry recorded for the entity) when one is given. A stored model that does not exist
(and has no recorded hash) resolves to the fallback, so a new entity runs before its model
is trained; its model id ``builtin:robust_zscore`` says so in every result.

>>> parse_model_ref("admon-dev", "xrootd-model")
StoredModelRef(namespace='admon-dev', model='xrootd-model', version=None)
>>> parse_model_ref("ignored", "http://models:8080/v2/models/admon-dev:xrootd-model/versions/2")
RemoteModelRef(base_url='http://models:8080', name='admon-dev:xrootd-model', version='2')
>>> parse_model_ref("admon-dev", "builtin:robust_zscore")
FallbackModelRef(detector='robust_zscore')
>>> import tempfile
>>> load_scorer(parse_model_ref("admon-dev", "not-trained-yet"), store=tempfile.mkdtemp()).model_id
'builtin:robust_zscore'
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

import admon.detectors as detectors
from admon.errors import ConfigError, IntegrityError, NotFoundError
from admon.models.oip import NAME_SEPARATOR, RemoteScorer
from admon.models.scoring import TOP_FEATURES, Scorer, Scores, score_with_detector
from admon.models.store import NAME_PATTERN, ModelStore

FALLBACK_DETECTOR = "robust_zscore"
BUILTIN_PREFIX = "builtin:"
FALLBACK_ID = f"{BUILTIN_PREFIX}{FALLBACK_DETECTOR}"
_V2_MODELS = "/v2/models/"
_V2_VERSIONS = "/versions/"


@dataclass(frozen=True)
class StoredModelRef:
    """``namespace/model`` in the model store; ``version`` None: the production version."""

    namespace: str
    model: str
    version: str | None = None


@dataclass(frozen=True)
class RemoteModelRef:
    """The model ``name`` (``<namespace>:<model>``) of the v2 server at ``base_url``;
    ``version`` None: the version the server serves by default."""

    base_url: str
    name: str
    version: str | None = None

    @property
    def url(self) -> str:
        return f"{self.base_url}{_V2_MODELS}{self.name}" + (f"{_V2_VERSIONS}{self.version}" if self.version else "")


@dataclass(frozen=True)
class FallbackModelRef:
    """The built-in fallback: ``detector`` fitted and calibrated on each window it scores."""

    detector: str = FALLBACK_DETECTOR


ModelRef = StoredModelRef | RemoteModelRef | FallbackModelRef


def parse_model_ref(namespace: str, model: str, *, version: str | None = None) -> ModelRef:
    """The reference an entity's ``inference_namespace`` and ``inference_model`` make.

    ``version`` pins a stored or remote model's version (None: the production one).
    A value that is none of the three forms is a :class:`~admon.errors.ConfigError`
    naming it and the forms.
    """
    forms = ("a model store name (letters, digits, '_', '.', '-'), a v2 URL "
             f"(http://host:port{_V2_MODELS}<namespace>{NAME_SEPARATOR}<model>) or '{FALLBACK_ID}'")
    if model.startswith(("http://", "https://")):
        base, sep, rest = model.partition(_V2_MODELS)
        name, vsep, url_version = rest.strip("/").partition(_V2_VERSIONS)
        ns, nsep, name_model = name.partition(NAME_SEPARATOR)
        if not sep or base.endswith("//") or not nsep or not ns or not name_model or "/" in name \
                or (vsep and (not url_version or "/" in url_version)):
            raise ConfigError(f"remote model URL {model!r} must look like "
                              f"http://host:port{_V2_MODELS}<namespace>{NAME_SEPARATOR}<model>"
                              f"[{_V2_VERSIONS}<version>]")
        if vsep and version is not None and version != url_version:
            raise ConfigError(f"remote model URL {model!r} names version {url_version!r}, but version "
                              f"{version!r} was asked for; give the version once")
        return RemoteModelRef(base_url=base, name=name, version=url_version if vsep else version)
    if model.startswith(BUILTIN_PREFIX):
        if model != FALLBACK_ID:
            raise ConfigError(f"unknown built-in model {model!r}; the built-in model is {FALLBACK_ID!r}")
        return FallbackModelRef()
    for what, value in (("inference_model", model), ("inference_namespace", namespace)):
        if not NAME_PATTERN.match(value):
            raise ConfigError(f"{what} {value!r} names no model: use {forms}")
    return StoredModelRef(namespace=namespace, model=model, version=None if version is None else str(version))


class FallbackScorer:
    """The built-in fallback: a fresh robust z-score fitted on each frame it scores, its scores
    calibrated on the same frame (threshold 75). Its content hash is the hash of its config."""

    def __init__(self, detector: str = FALLBACK_DETECTOR) -> None:
        self._name = detector
        self._config = detectors.to_config(detectors.create(detector))
        self._lookback = detectors.create(detector).lookback

    @property
    def model_id(self) -> str:
        return f"{BUILTIN_PREFIX}{self._name}"

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(json.dumps(self._config, sort_keys=True).encode()).hexdigest()

    @property
    def version(self) -> None:
        return None

    @property
    def lookback(self) -> int:
        return self._lookback

    @property
    def fit_on_window(self) -> bool:
        return True

    @property
    def config(self) -> dict[str, Any]:
        return dict(self._config)

    def score(self, frame: pd.DataFrame, *, top: int = TOP_FEATURES) -> Scores:
        detector = detectors.from_config(self._config).fit(frame)
        return score_with_detector(detector, None, frame, top=top)


def load_scorer(ref: ModelRef, *, store: ModelStore | str | None = None,
                expected_sha256: str | None = None) -> Scorer:
    """The :class:`~admon.models.scoring.Scorer` ``ref`` names.

    ``store``: the model store of a :class:`StoredModelRef` (a ModelStore, a root URL, or None
    for ``ADMON_MODEL_STORE``). ``expected_sha256``: the content hash the registry recorded;
    other content raises :class:`~admon.errors.IntegrityError` (a tampered or swapped model is
    an error, never replaced by the fallback), and so does a recorded model that is no longer
    stored (:class:`~admon.errors.NotFoundError`).
    """
    scorer: Scorer
    if isinstance(ref, StoredModelRef):
        models = store if isinstance(store, ModelStore) else ModelStore(store)
        if models.has_model(ref.namespace, ref.model):
            # every artifact hash, and the registry's record if given, is checked before loading
            return models.load(ref.namespace, ref.model, ref.version, expected_sha256=expected_sha256)
        if expected_sha256 is not None:
            raise NotFoundError(
                f"the registry recorded content sha256 {expected_sha256} for model {ref.namespace}/{ref.model}, "
                f"but {models.url} has no such model; restore it or re-train it (`admon train`)")
        scorer = FallbackScorer()
    elif isinstance(ref, RemoteModelRef):
        scorer = RemoteScorer.connect(ref.base_url, ref.name, version=ref.version)
    else:
        scorer = FallbackScorer(ref.detector)
    if expected_sha256 is not None and scorer.content_hash != expected_sha256:
        raise IntegrityError(
            f"model {scorer.model_id} has content sha256 {scorer.content_hash}, the registry recorded "
            f"{expected_sha256}; refusing to use it. Fix: serve or store the recorded model again, or "
            "record this content (`admon model promote`)")
    return scorer
