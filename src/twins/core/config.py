"""The workflow config and its schema: validation with defaults, and the same defaults for library callers.

The schema (`workflow/schemas/config.schema.yaml` and one `<twin>.schema.yaml` per twin) is the only place
that holds defaults and allowed ranges. The workflow validates the whole config once (`validate_config`);
a library function called outside Snakemake resolves its slice with `resolve("calo.train.gan3d", settings)`,
which fills the same defaults and applies the same checks, naming the full key in every error.

Beyond JSON Schema: an `integer` key refuses floats (1.0 would crash the code that counts with it); the keyword
`sumOfFractions` makes split fractions add up (to 1, or below 1 where the rest is the test set); `then:` with a
`description` says why a conditionally required key is needed; a number YAML read as text ('1e-3') or a whole
number written as a float gets the spelling that works.
"""

from __future__ import annotations

import copy
import functools
import math
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import referencing
import referencing.jsonschema
import yaml

MAIN_SCHEMA = "config.schema.yaml"
COMMON_SCHEMA = "common.schema.yaml"
SCHEMA_DIR_VARIABLE = "TWINS_SCHEMA_DIR"


class ConfigError(ValueError):
    """The config breaks the schema; the message names the key, the value and what is allowed."""


def schema_dir() -> Path:
    """The folder holding config.schema.yaml: $TWINS_SCHEMA_DIR, else workflow/schemas of this checkout."""
    override = os.environ.get(SCHEMA_DIR_VARIABLE)
    folder = Path(override) if override else Path(__file__).resolve().parents[3] / "workflow" / "schemas"
    if not (folder / MAIN_SCHEMA).exists():
        raise ConfigError(
            f"no {MAIN_SCHEMA} in {folder}: the twins library takes its config defaults from the workflow's "
            f"schemas; install it from a checkout (pip install -e .) or set {SCHEMA_DIR_VARIABLE} to the "
            "checkout's workflow/schemas"
        )
    return folder


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


def _whole_number(checker, instance) -> bool:
    """JSON Schema counts 1.0 as an integer; the code uses these keys as counts, so only a Python int is one."""
    return isinstance(instance, int) and not isinstance(instance, bool)


SUM_TOLERANCE = 1e-9


def _sum_of_fractions(validator, rule, instance, schema):
    """Keyword `sumOfFractions: {parts: [...], equals: 1}` (every part given, summing to 1 within
    SUM_TOLERANCE) or `{parts: [...], below: 1}` (the parts leave a rest, e.g. the test set). Parts that are
    missing or not numbers are left to the other keywords."""
    if not validator.is_type(instance, "object"):
        return
    values = [instance.get(part) for part in rule["parts"]]
    if not all(validator.is_type(value, "number") for value in values):
        return
    total = sum(values)
    if "equals" in rule and abs(total - rule["equals"]) > SUM_TOLERANCE:
        yield jsonschema.ValidationError(f"{rule['parts']} sum to {total:.10g}, not {rule['equals']}")
    if "below" in rule and not total < rule["below"]:
        yield jsonschema.ValidationError(f"{rule['parts']} sum to {total:.10g}, not below {rule['below']}")


_STRICT = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    {"sumOfFractions": _sum_of_fractions},
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _whole_number),
)
_FILLING = _with_defaults(_STRICT)
# YAML 1.1 (PyYAML) reads a number with an exponent as a float only with a dot in the mantissa and a sign in
# the exponent: 1.0e-3 and 1.0e+3 are numbers, 1e-3 and 1.0e3 are text.
_EXPONENT = re.compile(r"\s*([+-]?(?:\d+\.?\d*|\.\d+))([eE])([+-]?)(\d+)\s*")


def _types(expected: str | list[str]) -> set[str]:
    return {expected} if isinstance(expected, str) else set(expected)


def _type_hint(error: jsonschema.ValidationError) -> str | None:
    """What to write instead, for the type errors YAML causes: a whole number written as a float (1.0 where
    an integer is expected), a number YAML read as text ('1e-3': YAML 1.1 needs a dot in the mantissa)."""
    if error.validator != "type":
        return None
    expected, value = _types(error.validator_value), error.instance
    if "integer" in expected and "number" not in expected and isinstance(value, float) and value.is_integer():
        return f"{value!r} is a float; write a whole number without a decimal point ({int(value)})"
    if not expected & {"number", "integer"} or not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    if not math.isfinite(number):
        return None
    if "number" not in expected:  # an integer key
        if not number.is_integer():
            return None
        return f"{value!r} is a string; write the whole number {int(number)} without quotes"
    exponent = _EXPONENT.fullmatch(value)
    mantissa, e, sign, digits = exponent.groups() if exponent else ("", "", "", "")
    missing = [what for what, absent in (("a dot", "." not in mantissa), ("a sign", not sign)) if absent]
    if exponent and missing:
        fixed = f"{mantissa if '.' in mantissa else mantissa + '.0'}{e}{sign or '+'}{digits}"
        return f"{value!r} is a string: YAML reads exponents without {' or '.join(missing)} as text; write {fixed}"
    return f"{value!r} is a string; write the number {value.strip()} without quotes"


def _describe_sum(error: jsonschema.ValidationError, key: str) -> str:
    rule, instance = error.validator_value, error.instance
    parts = rule["parts"]
    names = " + ".join(f"'{key}.{part}'" for part in parts)
    total = sum(instance[part] for part in parts)
    terms = " + ".join(f"{instance[part]:g}" for part in parts)
    if "below" in rule:
        return (
            f"config keys {names} = {terms} = {total:.10g}; they must sum to less than {rule['below']} "
            f"to leave {rule.get('rest', 'a rest')}: lower one of them"
        )
    adjust = rule.get("adjust", parts[-1])
    rest = rule["equals"] - sum(instance[part] for part in parts if part != adjust)
    fix = f"set '{key}.{adjust}' to {rest:.10g}" if rest > 0 else "lower them"
    return (
        f"config keys {names} = {terms} = {total:.10g}; the parts must sum to {rule['equals']} "
        f"(nothing is renormalised or dropped): {fix}, or change the others to match"
    )


def _describe(error: jsonschema.ValidationError, prefix: str = "") -> str:
    key = ".".join([p for p in prefix.split(".") if p] + [str(p) for p in error.absolute_path]) or "<top level>"
    if error.validator == "sumOfFractions":
        return _describe_sum(error, key)
    hints = [_type_hint(error)] + [_type_hint(sub) for sub in error.context or ()]
    hint = next((h for h in hints if h), None)
    if hint is not None:
        return f"config key '{key}': {hint}"
    allowed = ""
    if error.validator in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"):
        allowed = f"; required: {error.validator} {error.validator_value}"
    elif error.validator == "type":
        allowed = f"; expected type {error.validator_value}"
    elif error.validator == "additionalProperties":
        allowed = f"; allowed keys: {sorted(error.schema.get('properties', {}))}"
    elif error.validator == "required":
        missing = [name for name in error.validator_value if name not in error.instance]
        conditional = list(error.schema_path)[-2:] == ["then", "required"]
        if conditional and len(missing) == 1 and "description" in error.schema:  # `then` says why it is needed
            return f"config key '{key}.{missing[0]}' is missing: {error.schema['description']}"
    return f"config key '{key}': {error.message}{allowed}"


def schema_registry(folder: str | Path) -> referencing.Registry:
    """Every `*.schema.yaml` in `folder`, addressable by file name (each twin keeps its own schema file).

    Twin files carry no `$schema` key: jsonschema would check a `$ref` into such a file with a fresh
    validator of that dialect, which would skip our default filling.
    """
    resources = [
        (path.name, referencing.jsonschema.DRAFT202012.create_resource(yaml.safe_load(path.read_text())))
        for path in sorted(Path(folder).glob("*.schema.yaml"))
    ]
    return referencing.Registry().with_resources(resources)


@functools.lru_cache(maxsize=4)
def _registry(folder: Path) -> referencing.Registry:
    return schema_registry(folder)


def _fill_and_check(instance: Any, schema: dict, registry: referencing.Registry, prefix: str, source: str) -> None:
    # Defaults first, then a strict pass, so an error is reported on the filled-in config.
    list(_FILLING(schema, registry=registry).iter_errors(instance))
    strict = _STRICT(schema, registry=registry)
    errors = sorted(strict.iter_errors(instance), key=lambda e: list(e.absolute_path))
    if errors:
        lines = "\n  ".join(_describe(e, prefix) for e in errors)
        raise ConfigError(f"invalid configuration ({len(errors)} problem(s)):\n  {lines}\n(schema: {source})")


def validate_config(config: dict[str, Any], schema_path: str | Path | None = None) -> dict[str, Any]:
    """Check `config` in place against the schema, filling defaults; raise ConfigError listing every problem.

    schema_path: the main schema (default: `schema_dir()/config.schema.yaml`); `$ref: "<twin>.schema.yaml"`
    in it points to a file beside it.
    """
    schema_path = Path(schema_path) if schema_path is not None else schema_dir() / MAIN_SCHEMA
    schema = yaml.safe_load(schema_path.read_text())
    _fill_and_check(config, schema, _registry(schema_path.parent.resolve()), "", str(schema_path))
    return config


def _pointer_to(key: str, registry: referencing.Registry) -> str:
    """The absolute schema URI of the dotted config `key` (e.g. 'calo.train.gan3d' ->
    'calo.schema.yaml#/$defs/gan3d'), following `$ref`s; map entries (a dataset or ensemble name) go
    through `additionalProperties`."""
    resolver = registry.resolver(base_uri=MAIN_SCHEMA)
    document, uri, node = MAIN_SCHEMA, f"{MAIN_SCHEMA}#", registry.contents(MAIN_SCHEMA)
    for part in [p for p in key.split(".") if p]:
        while "$ref" in node:
            target, _, fragment = node["$ref"].partition("#")
            document = target or document
            uri = f"{document}#{fragment}"
            resolved = resolver.lookup(node["$ref"])
            node, resolver = resolved.contents, resolved.resolver
        if part in node.get("properties", {}):
            uri, node = f"{uri}/properties/{part}", node["properties"][part]
        elif isinstance(node.get("additionalProperties"), dict):
            uri, node = f"{uri}/additionalProperties", node["additionalProperties"]
        else:
            known = sorted(node.get("properties", {}))
            raise ConfigError(f"config key '{key}': '{part}' is not in the schema; known keys there: {known}")
    return uri


def resolve(key: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The config slice at dotted `key` (e.g. 'calo.train.gan3d') as the workflow would hand it to a rule:
    a copy of `settings` (None: empty) with the schema's defaults filled in and checked against the schema.

    ConfigError names the full key ('calo.train.gan3d.epochs') and what is allowed. Library functions call
    this instead of keeping their own defaults, so a default lives in the schema only.
    """
    folder = schema_dir()
    registry = _registry(folder)
    instance = copy.deepcopy(dict(settings)) if settings is not None else {}
    _fill_and_check(instance, {"$ref": _pointer_to(key, registry)}, registry, key, str(folder / MAIN_SCHEMA))
    return instance


def resolve_definition(name: str, settings: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Like `resolve`, for the settings of a twin-agnostic service defined once in common.schema.yaml
    (`$defs/<name>`, e.g. 'classifier_nn', 'fpd'), which any twin's schema references."""
    folder = schema_dir()
    registry = _registry(folder)
    instance = copy.deepcopy(dict(settings)) if settings is not None else {}
    schema = {"$ref": f"{COMMON_SCHEMA}#/$defs/{name}"}
    _fill_and_check(instance, schema, registry, name, str(folder / COMMON_SCHEMA))
    return instance


def defaults(key: str) -> dict[str, Any]:
    """The schema's defaults of the config slice at dotted `key` (what an empty slice resolves to)."""
    return resolve(key, None)
