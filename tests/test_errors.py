"""Every error class lives in admon.errors, and one function explains every validation error."""

from __future__ import annotations

import ast
import builtins
from pathlib import Path

import pytest

import admon.errors as errors
from admon import InputDataConfig, SourceConfig
from admon.detectors import create
from admon.errors import ConfigError, explain_validation
from admon.settings import load_settings

SRC = Path(errors.__file__).parent


def _modules():
    for path in sorted(SRC.rglob("*.py")):
        yield path.relative_to(SRC.parent).as_posix(), ast.parse(path.read_text(), str(path))


def _names(node: ast.expr) -> set[str]:
    if isinstance(node, ast.Tuple):
        return set().union(*(_names(e) for e in node.elts))
    return {node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")}


def test_every_exception_class_is_defined_in_errors_py():
    exception_names = {name for name, obj in vars(builtins).items()
                       if isinstance(obj, type) and issubclass(obj, BaseException)}
    exception_names |= {name for name, obj in vars(errors).items()
                        if isinstance(obj, type) and issubclass(obj, BaseException)}
    elsewhere = []
    for module, tree in _modules():
        if module == "admon/errors.py":
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and any(_names(b) & exception_names for b in node.bases):
                elsewhere.append(f"{module}: class {node.name}")
    assert elsewhere == [], "define error classes in admon/errors.py: " + ", ".join(elsewhere)


def test_every_validation_error_handler_calls_explain_validation():
    handlers = []
    for module, tree in _modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.ExceptHandler) and node.type is not None and \
                    _names(node.type) & {"ValidationError", "RequestValidationError"}:
                calls = {n.func.id if isinstance(n.func, ast.Name) else getattr(n.func, "attr", "")
                         for n in ast.walk(node) if isinstance(n, ast.Call)}
                handlers.append((module, node.lineno, "explain_validation" in calls))
    assert len(handlers) >= 10, handlers  # config, settings, detectors, post-rules, forecast, registry, service
    assert [h for h in handlers if not h[2]] == []


def test_the_service_answers_through_the_same_function():
    from admon.service import app

    calls = {n.func.id for n in ast.walk(ast.parse(Path(app.__file__).read_text()))
             if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "explain_validation" in calls


def test_config_messages_name_the_field_the_value_and_the_fix():
    with pytest.raises(ConfigError) as err:
        SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "value"], rename=[1])
    assert str(err.value).startswith("invalid SourceConfig: rename: ") and "(got [1])" in str(err.value)
    with pytest.raises(ConfigError, match=r"invalid InputDataConfig: agg_interval_seconds: missing; add it"):
        InputDataConfig(source_configs=[SourceConfig("collectd", "raw", "monitoring", select=["timestamp", "v"])])


def test_unknown_parameters_list_the_valid_ones():
    with pytest.raises(ConfigError, match=r"invalid config for robust_zscore: unknown parameter 'windw'; "
                                          r"remove it \(valid parameters: .*window"):
        create("robust_zscore", windw=3)


def test_settings_errors_name_the_variable_and_never_show_the_value(monkeypatch):
    monkeypatch.setenv("ADMON_METRICS_TOKEN", "short-secret")
    monkeypatch.setenv("ADMON_SINK_CHUNK_SIZE", "lots")
    with pytest.raises(ConfigError) as err:
        load_settings()
    text = str(err.value)
    assert text.startswith("invalid settings: ") and "ADMON_METRICS_TOKEN" in text and "ADMON_SINK_CHUNK_SIZE" in text
    assert "short-secret" not in text and "lots" not in text


def test_explain_validation_takes_any_error_list():
    class Fake:
        def errors(self):
            return [{"type": "json_invalid", "loc": ("body",), "msg": "JSON", "ctx": {"error": "Expecting value"}}]

    assert explain_validation(Fake(), "request") == \
        "invalid request: the body is not valid JSON (Expecting value); send a JSON object"
