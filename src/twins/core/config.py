"""Validate a workflow config against the JSON schema, filling defaults, with errors that name the key."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import jsonschema
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


def validate_config(config: dict[str, Any], schema_path: str | Path) -> dict[str, Any]:
    """Check `config` in place against the schema, filling defaults; raise ConfigError listing every problem."""
    schema = yaml.safe_load(Path(schema_path).read_text())
    validator_class = _with_defaults(jsonschema.validators.validator_for(schema))
    # Defaults first, then a strict pass, so an error is reported on the filled-in config.
    list(validator_class(schema).iter_errors(config))
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n  ".join(_describe(e) for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)):\n  {lines}\n(schema: {schema_path})")
    return config
