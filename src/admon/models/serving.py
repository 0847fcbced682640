"""Serving stored models over the Open Inference Protocol, without the HTTP: what the v2
routes (:mod:`admon.service.routes.v2`) answer, computed here.

:class:`ServedModels` loads a stored model by its v2 name (``<namespace>:<model>``, see
:mod:`admon.models.oip`) for a caller's :class:`ModelGrant`, and builds the model's
metadata and infer responses. Scores come from :meth:`TrainedModel.score
<admon.models.store.TrainedModel.score>`, the path scheduled runs take, so both give
identical scores.

Who may use a model. The routes take the access decision from a dependency the service
passes (:func:`admon.service.deps.get_model_grant`), with the rule every admon endpoint
keeps (:func:`admon.service.access.can_see_model`):

* a model run by an entity of a **private project** is that project's: only members of its
  egroup (and admins) may use it -- its post-rules hold quantiles of the project's data;
* a model run only by entities of **public projects** is public, like those projects;
* a model **no entity runs** belongs to no project, so no group can vouch for who should see
  it: it is served to authenticated callers (any valid token), never to anonymous ones.

A model the caller may not see is answered exactly as a missing one (:func:`model_not_found`,
before the request body is looked at), and no answer lists other models or shows a store path.

Which content is served. A model is loaded only after every artifact hash matched its
manifest *and* the content hash matched the one the registry recorded for it (the check
scheduled runs make, :func:`admon.models.store.recorded_sha256`): the production version
against every entity running the model, an explicit version against the records of that
version. A version re-written in the store (files, manifest and pointer together) is refused
(:class:`~admon.errors.IntegrityError`, 409). Content the registry recorded no hash for is
served, and its metadata says so in ``parameters.integrity``.

>>> split_name("admon-dev:xrootd-model")
('admon-dev', 'xrootd-model')
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

from admon.errors import DataError, NotFoundError
from admon.models.oip import (
    CONTRIBUTIONS,
    NAME_SEPARATOR,
    OUTPUT_TYPES,
    frame_to_v2_inputs,
    scores_to_v2_outputs,
    split_name,
    v2_inputs_to_frame,
)
from admon.models.store import ModelStore, TrainedModel, recorded_sha256, unrecorded_note

# the protocol names a caller of the serving side needs, from their one home in admon.models.oip
__all__ = ["NAME_SEPARATOR", "ModelGrant", "ServedModel", "ServedModels", "frame_to_v2_inputs",
           "model_not_found", "split_name"]


@dataclass(frozen=True)
class ModelGrant:
    """The access decision on one model for one request (what the ``access`` dependency returns).

    ``visible``: whether the caller may see the model at all; if not, it is answered as missing.
    ``recorded``: the ``(model_version, model_sha256)`` the registry recorded on the entities
    running it, which the served content must match (see :func:`~admon.models.store.recorded_sha256`).
    """

    visible: bool
    recorded: tuple[tuple[str | None, str | None], ...] = ()


def model_not_found(name: str) -> NotFoundError:
    """The one answer for a model that is missing *or* hidden from the caller: it names only ``name``."""
    return NotFoundError(
        f"no model {name!r}; the models of the entities you can see are listed at /api/models "
        "(a private project's model needs a token of one of its members)"
    )


@dataclass(frozen=True)
class ServedModel:
    """A loaded model under its v2 name, and the registry's hash it matched (None: none recorded)."""

    name: str
    model: TrainedModel
    recorded_sha256: str | None

    @property
    def integrity(self) -> str:
        m = self.model.manifest
        if self.recorded_sha256 is None:
            return unrecorded_note(m.namespace, m.model, m.version)
        return f"content sha256 {m.content_sha256} matches the hash the registry recorded: verified"


class ServedModels:
    """The stored models of ``store`` (a ModelStore, a root URL, or None for ``ADMON_MODEL_STORE``,
    opened on first use), loaded once per (version, recorded hash): reloaded when production
    moves or the registry records other content."""

    def __init__(self, store: ModelStore | str | None = None) -> None:
        self._store: ModelStore | None = store if isinstance(store, ModelStore) else None
        self._root: str | None = None if isinstance(store, ModelStore) else store
        self._models: dict[tuple[str, str, str, str | None], TrainedModel] = {}
        self._lock = threading.Lock()

    @property
    def store(self) -> ModelStore:
        if self._store is None:
            self._store = ModelStore(self._root)
        return self._store

    def get(self, name: str, version: str | None, grant: ModelGrant) -> ServedModel:
        """The model ``name`` (``version`` None: production) as ``grant`` allows;
        :func:`model_not_found` for a hidden or missing model."""
        ns, model = split_name(name)
        if not grant.visible or not self.store.has_model(ns, model):
            raise model_not_found(name)
        try:
            concrete = self.store.resolve(ns, model, version)
        except NotFoundError:
            if not self.store.has_model(ns, model):  # removed meanwhile; the store's message lists the others
                raise model_not_found(name) from None
            raise  # no such version of a model the caller may see: the store's message says which exist
        expected = recorded_sha256(ns, model, concrete, grant.recorded, production=version in (None, "production"))
        key = (ns, model, concrete, expected)
        with self._lock:
            loaded = self._models.get(key)
        if loaded is None:
            loaded = self.store.load(ns, model, concrete, expected_sha256=expected)
            with self._lock:
                self._models[key] = loaded
        return ServedModel(name, loaded, expected)

    def metadata(self, served: ServedModel) -> dict[str, Any]:
        """The v2 model metadata of ``served`` (``parameters``: admon's version, hashes, lookback, ...)."""
        loaded, m = served.model, served.model.manifest
        versions = [v.version for v in self.store.versions(m.namespace, m.model)]
        inputs = [{"name": c, "datatype": "BYTES", "shape": [-1]} for c in m.group_columns]
        inputs.append({"name": "timestamp", "datatype": "INT64", "shape": [-1]})
        inputs += [{"name": c, "datatype": "FP64", "shape": [-1]} for c in m.feature_columns]
        return {
            "name": served.name,
            "versions": versions,
            "platform": "admon",
            "inputs": inputs,
            "outputs": [{"name": k, "datatype": v, "shape": [-1]} for k, v in OUTPUT_TYPES.items()]
            + [{"name": CONTRIBUTIONS, "datatype": "FP64", "shape": [-1, len(m.feature_columns)]}],
            "parameters": {
                "version": m.version,
                "detector": m.detector,
                "lookback": loaded.lookback,
                "content_sha256": m.content_sha256,
                "recorded_sha256": served.recorded_sha256,
                "integrity": served.integrity,
                "transforms": m.transforms,
                "post_rules": loaded.post_rules.to_dict() if loaded.post_rules is not None else None,
            },
        }

    @staticmethod
    def infer(served: ServedModel, body: bytes) -> dict[str, Any]:
        """The v2 infer response of ``served`` to the request ``body`` (JSON with ``inputs``;
        ``outputs``, if given, selects the output tensors by name; ``id`` is echoed)."""
        try:
            request = json.loads(body)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise DataError(f"request body is not JSON: {exc}; send a JSON object with 'inputs'") from None
        if not isinstance(request, dict):
            raise DataError("a v2 infer request is a JSON object with 'inputs'")
        frame = v2_inputs_to_frame(request.get("inputs"))
        outputs = scores_to_v2_outputs(served.model.score(frame))
        wanted = [o.get("name") for o in request.get("outputs") or [] if isinstance(o, dict)]
        if wanted:
            outputs = [o for o in outputs if o["name"] in wanted]
        m = served.model.manifest
        response: dict[str, Any] = {
            "model_name": served.name, "model_version": m.version, "outputs": outputs,
            "parameters": {"content_sha256": m.content_sha256, "recorded_sha256": served.recorded_sha256},
        }
        if "id" in request:
            response["id"] = request["id"]
        return response
