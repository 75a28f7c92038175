"""Validate a workflow config against the JSON schema, filling defaults, with errors that name the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
import yaml


class ConfigError(ValueError):
    """The config breaks the schema; the message names the key, the value and what is allowed."""


def _with_defaults(validator_class):
    """A validator that also writes each property's schema default into the instance (jsonschema FAQ recipe)."""
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                # A "$ref" property carries its default beside the reference (allowed in draft 2020-12).
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


def _describe(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in error.absolute_path) or "<top level>"
    allowed = ""
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        allowed = f"; required: {error.validator} {error.validator_value}"
    elif error.validator == "type":
        allowed = f"; expected type {error.validator_value}"
    elif error.validator == "additionalProperties":
        allowed = f"; allowed keys: {sorted(error.schema.get('properties', {}))}"
    return f"config key '{key}': {error.message}{allowed}"


def schema_registry(schema_dir: str | Path) -> referencing.Registry:
    """Every `*.schema.yaml` in `schema_dir`, addressable by file name (each twin keeps its own schema file).

    Twin files carry no `$schema` key: jsonschema would check a `$ref` into such a file with a fresh
    validator of that dialect, which would skip our default filling.
    """
    resources = [
        (path.name, referencing.jsonschema.DRAFT202012.create_resource(yaml.safe_load(path.read_text())))
        for path in sorted(Path(schema_dir).glob("*.schema.yaml"))
    ]
    return referencing.Registry().with_resources(resources)


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Check `config` in place against the schema, filling defaults; raise ConfigError listing every problem.

    `$ref: "<twin>.schema.yaml"` in the schema points to a file beside it.
    """
    schema_path = Path(schema_path)
    schema = yaml.safe_load(schema_path.read_text())
    registry = schema_registry(schema_path.parent)
    validator_class = _with_defaults(jsonschema.validators.validator_for(schema))
    # Defaults first, then a strict pass, so an error is reported on the filled-in config.
    list(validator_class(schema, registry=registry).iter_errors(config))
    strict = jsonschema.Draft202012Validator(schema, registry=registry)
    errors = sorted(strict.iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)):\n  {lines}\n(schema: {schema_path})")
    return config
