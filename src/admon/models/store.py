"""The model store: versioned, hashed, safely serialised models a service can trust.

Layout (``ADMON_MODEL_STORE``; a local folder by default, ``s3://bucket/prefix``
or any fsspec URL)::

    <store>/<namespace>/<model>/<version>/manifest.json
    <store>/<namespace>/<model>/<version>/artifact/...      (detector.json, *.npz, *.skops, *.safetensors, postrules.json)
    <store>/<namespace>/<model>/pointer.json                (production version, promotion history,
                                                             and the content sha256 of each version)

Versions are ``"1"``, ``"2"``, ... The manifest records the detector, its config,
feature columns, training window, metrics, the transforms and the sha256 of every
artifact file plus their combined ``content_sha256``. :meth:`ModelStore.load`
downloads the files, checks every hash (and, if given, the hash the registry
recorded) *before* deserialising anything, and refuses a mismatch with
:class:`~admon.errors.IntegrityError`. Nothing is ever unpickled.

The registry records, per detection entity, the version and ``content_sha256`` its runs
may load (set on training with promotion, ``admon model promote|rollback``, see
:func:`admon.registry.api.record_model`): a version re-written in the store, even with a
consistent manifest and pointer, fails every run until it is re-trained or promoted again.
``admon model verify`` and the v2 endpoints check the same record (:func:`recorded_sha256`);
where none is recorded they say so (:func:`unrecorded_note`) instead of reporting "verified".

>>> import tempfile, numpy as np, pandas as pd
>>> from admon.detectors import create
>>> frame = pd.DataFrame({"host": "h", "timestamp": np.arange(50, dtype="int64") * 300_000,
...                       "v": np.sin(np.arange(50.0))})
>>> store = ModelStore(tempfile.mkdtemp())
>>> m = store.put("admon-dev", "cpu-model", create("robust_zscore").fit(frame), metrics={"rows": 50})
>>> m.version, store.production("admon-dev", "cpu-model")
('1', '1')
>>> loaded = store.load("admon-dev", "cpu-model", expected_sha256=m.content_sha256)
>>> bool((loaded.detector.score(frame) == create("robust_zscore").fit(frame).score(frame)).all())
True
>>> loaded.model_id, loaded.version, loaded.lookback
('admon-dev/cpu-model/1', '1', 24)
"""

from __future__ import annotations

import hashlib
import json
import re
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field

import admon
from admon.detectors.base import Detector
from admon.detectors.postrules import PostRuleChain
from admon.errors import ConfigError, ConflictError, IntegrityError, NotFoundError
from admon.models.scoring import TOP_FEATURES, Scores, score_with_detector
from admon.settings import Settings, load_settings

MANIFEST = "manifest.json"
POINTER = "pointer.json"
ARTIFACT = "artifact"
POSTRULES_FILE = "postrules.json"
#: What a namespace, model or version name in the store may look like.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")


def check_name(name: str) -> str:
    """``name`` if the store allows it as a namespace, model or version name, else ConfigError.

    >>> check_name("xrootd-model")
    'xrootd-model'
    """
    if not NAME_PATTERN.match(name):
        raise ConfigError(f"name {name!r} is not allowed in the model store; use letters, digits, '_', '.', '-' "
                          "(at most 128, starting with a letter or digit)")
    return name


class ModelManifest(BaseModel):
    """What a stored model version is: enough to reproduce, audit and verify it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    namespace: str
    model: str
    version: str
    detector: str
    detector_config: dict[str, Any]
    feature_columns: list[str]
    group_columns: list[str]
    training_window: tuple[int, int] | None = None
    input_data_config: dict[str, Any] | None = None
    transforms: list[dict[str, Any]] = Field(default_factory=list)
    metrics: dict[str, Any] = Field(default_factory=dict)
    stages: list[dict[str, Any]] = Field(default_factory=list)
    files: dict[str, str] = Field(description="artifact path -> sha256")
    content_sha256: str
    created_at_ms: int
    admon_version: str = ""


def content_hash(files: dict[str, str]) -> str:
    """sha256 over the sorted ``(path, sha256)`` pairs of the artifact files.

    >>> content_hash({"a.json": "00"}) == content_hash({"a.json": "00"})
    True
    """
    canonical = json.dumps(sorted(files.items()), separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass
class TrainedModel:
    """A loaded model exactly as trained: the fitted detector, its post-rule chain and manifest.

    It is the :class:`~admon.models.scoring.Scorer` of a stored model: :meth:`score` applies
    the manifest's transforms, the detector and the chain, the one inference path of
    scheduled runs and the v2 endpoints, so both give identical scores. ``detector`` sees
    frames as the transforms leave them (``score`` applies them; ``detector.score`` does not).
    """

    detector: Detector
    post_rules: PostRuleChain | None
    manifest: ModelManifest

    @property
    def model_id(self) -> str:
        m = self.manifest
        return f"{m.namespace}/{m.model}/{m.version}"

    @property
    def content_hash(self) -> str:
        return self.manifest.content_sha256

    @property
    def version(self) -> str:
        return self.manifest.version

    @property
    def config(self) -> dict[str, Any]:
        return dict(self.manifest.detector_config)

    @property
    def fit_on_window(self) -> bool:
        return False

    @property
    def lookback(self) -> int:
        """Earlier points of a group a score depends on: the detector's, then its post-rules'."""
        return self.detector.lookback + (self.post_rules.lookback if self.post_rules is not None else 0)

    def score(self, frame: pd.DataFrame, *, top: int = TOP_FEATURES) -> Scores:
        """Transforms -> detector -> post-rules, per row of ``frame``, with each feature's share."""
        return score_with_detector(self.detector, self.post_rules, frame, transforms=self.manifest.transforms,
                                   top=top)

    def predict(self, frame: pd.DataFrame, *, top: int = TOP_FEATURES) -> pd.DataFrame:
        """Per row: ``raw_score``, ``anomaly_score`` (0-100), ``severity``, ``is_anomaly``,
        ``threshold`` and ``top_features`` (the columns that drove the score), aligned to ``frame``:
        the rows of :meth:`score`."""
        return self.score(frame, top=top).rows


def load(namespace: str, model: str, version: str | int | None = None, *, root: str | None = None,
         expected_sha256: str | None = None, **storage_options: Any) -> TrainedModel:
    """Shortcut: ``ModelStore(root).load(...)`` (root default: the ``ADMON_MODEL_STORE`` setting).

    An entity's model may also be remote or the built-in fallback: resolve its reference
    with :func:`admon.models.reference.load_scorer`.
    """
    return ModelStore(root, **storage_options).load(namespace, model, version, expected_sha256=expected_sha256)


class ModelStore:
    """Versioned models under a local folder or an fsspec URL (``s3://...``)."""

    def __init__(self, root: str | Path | None = None, **storage_options: Any) -> None:
        if root is None:
            root = load_settings().model_store
        root = str(root)
        if "://" not in root:
            root = str(Path(root).expanduser().resolve())
        self.url = root
        if root.startswith("s3://"):
            storage_options.setdefault("skip_instance_cache", True)
        self.fs, self.root = fsspec.core.url_to_fs(root, **storage_options)
        self.root = self.root.rstrip("/")

    def __repr__(self) -> str:
        return f"ModelStore({self.url!r})"

    # ------------------------------------------------------------------ paths
    def _path(self, *parts: str) -> str:
        for p in parts:
            check_name(p)
        return "/".join([self.root, *parts])

    def _read_json(self, path: str) -> Any:
        with self.fs.open(path, "rb") as fh:
            return json.loads(fh.read())

    def _write_json(self, path: str, data: Any) -> None:
        with self.fs.open(path, "wb") as fh:
            fh.write(json.dumps(data, indent=1, sort_keys=True).encode())

    # ------------------------------------------------------------------ write
    def put(
        self,
        namespace: str,
        model: str,
        detector: Detector,
        *,
        post_rules: PostRuleChain | None = None,
        metrics: dict[str, Any] | None = None,
        training_window: tuple[int, int] | None = None,
        input_data_config: dict[str, Any] | None = None,
        transforms: list[dict[str, Any]] | None = None,
        stages: list[dict[str, Any]] | None = None,
        promote: bool = True,
    ) -> ModelManifest:
        """Save a fitted detector (and post-rules) as the next version; promote it unless told not to."""
        with tempfile.TemporaryDirectory(prefix="admon-model-") as tmp:
            art = Path(tmp) / ARTIFACT
            detector.save(art)
            if post_rules is not None:
                (art / POSTRULES_FILE).write_text(json.dumps(post_rules.to_dict(), sort_keys=True))
            files = {
                p.relative_to(art).as_posix(): _sha256(p.read_bytes())
                for p in sorted(art.rglob("*")) if p.is_file()
            }
            version = self._next_version(namespace, model)
            vdir = self._path(namespace, model, version)
            if self.fs.exists(f"{vdir}/{MANIFEST}"):
                raise ConflictError(f"model {namespace}/{model} version {version} already exists; retry")
            for rel in files:
                self.fs.makedirs(f"{vdir}/{ARTIFACT}/{Path(rel).parent.as_posix()}".rstrip("/."), exist_ok=True)
                self.fs.put_file(str(art / rel), f"{vdir}/{ARTIFACT}/{rel}")
        manifest = ModelManifest(
            namespace=namespace,
            model=model,
            version=version,
            detector=detector.name,
            detector_config=detector.get_config(),
            feature_columns=list(detector.feature_columns_),
            group_columns=list(detector.group_columns_),
            training_window=training_window,
            input_data_config=input_data_config,
            transforms=list(transforms or []),
            metrics=_jsonable(metrics or {}),
            stages=_jsonable(stages or []),
            files=files,
            content_sha256=content_hash(files),
            created_at_ms=int(time.time() * 1000),
            admon_version=admon.__version__,
        )
        # the manifest is written last: a version without one is incomplete and ignored
        self._write_json(f"{vdir}/{MANIFEST}", manifest.model_dump(mode="json"))
        # a second, independent record of the hash: rewriting a manifest alone is detected
        pointer = self._pointer(namespace, model)
        pointer.setdefault("hashes", {})[version] = manifest.content_sha256
        self._write_json(f"{self._path(namespace, model)}/{POINTER}", pointer)
        if promote:
            self.promote(namespace, model, version)
        return manifest

    def _next_version(self, namespace: str, model: str) -> str:
        existing = self._version_ids(namespace, model, complete_only=False)
        return str(max((int(v) for v in existing), default=0) + 1)

    # ------------------------------------------------------------------ read
    def _version_ids(self, namespace: str, model: str, complete_only: bool = True) -> list[str]:
        mdir = self._path(namespace, model)
        if not self.fs.exists(mdir):
            return []
        out = []
        for entry in self.fs.ls(mdir, detail=False):
            name = entry.rstrip("/").rsplit("/", 1)[-1]
            if name.isdigit() and (not complete_only or self.fs.exists(f"{mdir}/{name}/{MANIFEST}")):
                out.append(name)
        return sorted(out, key=int)

    def models(self, namespace: str | None = None) -> list[tuple[str, str]]:
        """``(namespace, model)`` pairs that have at least one complete version."""
        if not self.fs.exists(self.root):
            return []
        spaces = [namespace] if namespace else [
            e.rstrip("/").rsplit("/", 1)[-1] for e in self.fs.ls(self.root, detail=False) if self.fs.isdir(e)
        ]
        out = []
        for ns in spaces:
            nsdir = self._path(ns)
            if not self.fs.exists(nsdir):
                continue
            for e in self.fs.ls(nsdir, detail=False):
                name = e.rstrip("/").rsplit("/", 1)[-1]
                if NAME_PATTERN.match(name) and self._version_ids(ns, name):
                    out.append((ns, name))
        return sorted(out)

    def has_model(self, namespace: str, model: str) -> bool:
        """Whether ``namespace/model`` has at least one complete version."""
        return bool(self._version_ids(namespace, model))

    def versions(self, namespace: str, model: str) -> list[ModelManifest]:
        """Manifests of every complete version, oldest first."""
        return [self.manifest(namespace, model, v) for v in self._version_ids(namespace, model)]

    def manifest(self, namespace: str, model: str, version: str | int | None = None) -> ModelManifest:
        """The manifest of ``version`` (default: the production version, else the latest)."""
        version = self.resolve(namespace, model, version)
        return ModelManifest.model_validate(self._read_json(f"{self._path(namespace, model, version)}/{MANIFEST}"))

    def resolve(self, namespace: str, model: str, version: str | int | None = None) -> str:
        """The concrete version id ``version`` refers to (None: production, else latest)."""
        ids = self._version_ids(namespace, model)
        if not ids:
            raise NotFoundError(
                f"no model {namespace}/{model} in {self.url}; train one with `admon train` "
                f"(stored: {', '.join(f'{n}/{m}' for n, m in self.models()) or 'none'})"
            )
        if version is None:
            return self.production(namespace, model) or ids[-1]
        version = str(version)
        if version in ("latest",):
            return ids[-1]
        if version == "production":
            prod = self.production(namespace, model)
            if prod is None:
                raise NotFoundError(f"model {namespace}/{model} has no production version; promote one")
            return prod
        if version not in ids:
            raise NotFoundError(f"model {namespace}/{model} has no version {version!r}; versions: {', '.join(ids)}")
        return version

    def load(
        self,
        namespace: str,
        model: str,
        version: str | int | None = None,
        *,
        expected_sha256: str | None = None,
    ) -> TrainedModel:
        """Verify every artifact hash, then rebuild the model. IntegrityError on any mismatch."""
        manifest = self.manifest(namespace, model, version)
        blobs = self._verified_files(manifest, expected_sha256)
        with tempfile.TemporaryDirectory(prefix="admon-load-") as tmp:
            art = Path(tmp) / ARTIFACT
            for rel, data in blobs.items():
                target = art / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(data)
            detector = Detector.load(art)
            rules = None
            if (art / POSTRULES_FILE).is_file():
                rules = PostRuleChain.from_dict(json.loads((art / POSTRULES_FILE).read_text()), detector=detector)
        return TrainedModel(detector=detector, post_rules=rules, manifest=manifest)

    def verify(self, namespace: str, model: str, version: str | int | None = None,
               expected_sha256: str | None = None) -> ModelManifest:
        """Check every hash without deserialising; return the manifest or raise IntegrityError."""
        manifest = self.manifest(namespace, model, version)
        self._verified_files(manifest, expected_sha256)
        return manifest

    def _verified_files(self, manifest: ModelManifest, expected_sha256: str | None) -> dict[str, bytes]:
        """The artifact files' bytes, each checked against the manifest, the manifest against the registry."""
        self._check_manifest(manifest, expected_sha256)
        recorded = self._pointer(manifest.namespace, manifest.model).get("hashes", {}).get(manifest.version)
        if recorded is not None and recorded != manifest.content_sha256:
            raise IntegrityError(
                f"model {manifest.namespace}/{manifest.model} v{manifest.version}: manifest content sha256 "
                f"{manifest.content_sha256[:12]}... differs from the {recorded[:12]}... recorded when it was "
                "stored (rewritten manifest); refusing to load"
            )
        name = f"model {manifest.namespace}/{manifest.model} v{manifest.version}"
        vdir = self._path(manifest.namespace, manifest.model, manifest.version)
        prefix = f"{vdir}/{ARTIFACT}/"
        present = {p[len(prefix):] for p in self.fs.find(f"{vdir}/{ARTIFACT}")}
        extra = sorted(present - set(manifest.files))
        if extra:
            raise IntegrityError(f"{name} has files not in its manifest: {extra}; refusing to load")
        blobs = {}
        for rel, digest in manifest.files.items():
            try:
                data = self.fs.cat_file(prefix + rel)
            except FileNotFoundError:
                raise IntegrityError(f"{name}: artifact {rel} is missing; refusing to load") from None
            if _sha256(data) != digest:
                raise IntegrityError(
                    f"{name}: {rel} does not match its sha256 in the manifest (tampered or corrupt); "
                    "refusing to load. Retrain or roll back."
                )
            blobs[rel] = data
        return blobs

    @staticmethod
    def _check_manifest(manifest: ModelManifest, expected_sha256: str | None) -> None:
        if content_hash(manifest.files) != manifest.content_sha256:
            raise IntegrityError(
                f"model {manifest.namespace}/{manifest.model} v{manifest.version}: manifest file list does "
                "not match its content_sha256 (tampered manifest); refusing to load"
            )
        if expected_sha256 is not None and expected_sha256 != manifest.content_sha256:
            ns, name, v = manifest.namespace, manifest.model, manifest.version
            raise IntegrityError(
                f"model {ns}/{name} version {v}: the registry recorded content sha256 {expected_sha256}, "
                f"the store holds {manifest.content_sha256}; refusing to load a model swapped since it "
                f"was recorded. Fix: re-train it (`admon train`), restore the artifact, or, if this "
                f"content is intended, record it with `admon model promote {ns} {name} {v}`"
            )

    # ------------------------------------------------------------------ promotion
    def _pointer(self, namespace: str, model: str) -> dict[str, Any]:
        path = f"{self._path(namespace, model)}/{POINTER}"
        if not self.fs.exists(path):
            return {"production": None, "history": [], "hashes": {}}
        return self._read_json(path)

    def production(self, namespace: str, model: str) -> str | None:
        """The promoted version, or None."""
        return self._pointer(namespace, model).get("production")

    def promote(self, namespace: str, model: str, version: str | int) -> str:
        """Make ``version`` the production version (recorded in the promotion history)."""
        version = self.resolve(namespace, model, str(version))
        pointer = self._pointer(namespace, model)
        if pointer.get("production") != version:
            pointer["history"] = [*pointer.get("history", []), version]
            pointer["production"] = version
            self._write_json(f"{self._path(namespace, model)}/{POINTER}", pointer)
        return version

    def rollback(self, namespace: str, model: str) -> str:
        """Return production to the previously promoted version; return that version."""
        pointer = self._pointer(namespace, model)
        history = list(pointer.get("history", []))
        if len(history) < 2:
            raise NotFoundError(
                f"model {namespace}/{model} has no earlier promoted version to roll back to "
                f"(promotion history: {history or 'empty'})"
            )
        history.pop()
        pointer = {**pointer, "production": history[-1], "history": history}
        self._write_json(f"{self._path(namespace, model)}/{POINTER}", pointer)
        return history[-1]


def recorded_sha256(namespace: str, model: str, version: str,
                    records: Iterable[tuple[str | None, str | None]], *, production: bool) -> str | None:
    """The content hash the registry vouches for ``version`` of ``namespace/model``, or None.

    ``records`` are the ``(model_version, model_sha256)`` the registry holds for the entities
    running the model (:func:`admon.registry.repository.model_users`). When the *production*
    version is asked for (what scheduled runs load) every entity's record applies, whatever
    version it names, since each of their runs refuses other content; for an explicit version,
    only the records of that version do. Records that disagree cannot all be met:
    :class:`~admon.errors.IntegrityError`. Pass the result as ``expected_sha256`` to
    :meth:`ModelStore.load` or :meth:`ModelStore.verify`, which refuse other content.

    >>> recorded_sha256("ns", "m", "2", [("1", "a" * 64)], production=False) is None
    True
    >>> recorded_sha256("ns", "m", "2", [("1", "a" * 64)], production=True) == "a" * 64
    True
    """
    relevant = sorted({sha for v, sha in records if sha and (production or str(v) == str(version))})
    if len(relevant) > 1:
        raise IntegrityError(
            f"the registry records {len(relevant)} different content hashes for model {namespace}/{model} "
            f"({', '.join(h[:12] + '...' for h in relevant)}); at most one can match the store. Fix: record "
            f"the intended version for every entity with `admon model promote {namespace} {model} VERSION`"
        )
    return relevant[0] if relevant else None


def unrecorded_note(namespace: str, model: str, version: str, why: str = "") -> str:
    """What ``admon model verify`` and model serving say of content the registry recorded no hash for."""
    reason = f" ({why})" if why else ""
    return (f"no recorded hash for {namespace}/{model} version {version}{reason}: "
            "content checked against its own manifest only")


def is_runs_store(store: ModelStore, settings: Settings | None = None) -> bool:
    """Whether ``store`` is the store scheduled runs load from (the ``model_store`` setting).

    Only a model of that store may have its hash recorded in the registry: recording one from
    another store would make every run refuse the model it actually loads.
    """
    if settings is None:
        settings = load_settings()
    return store.url == ModelStore(settings.model_store).url


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _jsonable(value: Any) -> Any:
    """Metrics as plain JSON types (numpy scalars become Python numbers)."""
    return json.loads(json.dumps(value, default=lambda o: o.item() if isinstance(o, np.generic) else str(o)))
