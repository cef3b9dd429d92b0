"""JSON Schema clean-up for Gemini, and the way back.

Gemini accepts a subset of JSON Schema (the OpenAPI 3.0 ``Schema`` object):
``type`` (one type), ``nullable``, ``description``, ``enum`` (strings),
``properties``, ``required``, ``items``, ``minimum``/``maximum``,
``minItems``/``maxItems``, a few ``format`` values and ``propertyOrdering``.
:func:`clean_for_gemini` rewrites any client schema into that subset:

* local ``$ref`` (``#/$defs/..``, ``#/definitions/..``, ``#``) are inlined;
  a cycle or an unresolvable ref becomes an object described by its name;
* ``allOf`` is merged; ``anyOf``/``oneOf`` keep their richest branch
  (object > array > scalar), a ``null`` branch becomes ``nullable``;
* ``const`` becomes a one-value ``enum``; an enum of non-strings becomes a hint;
* ``type: [T, "null"]`` becomes ``type: T, nullable: true``;
* constraints Gemini rejects (``pattern``, ``minLength``, ``exclusiveMinimum``,
  ``default``, unsupported ``format``, ...) move into the description as a hint;
* everything else (``$schema``, ``additionalProperties``, ``examples``,
  ``title``, ``x-*``...) is dropped; ``required`` keeps only declared properties.

Inlining can multiply a schema (a definition that refers twice to the next,
twenty deep, is a million nodes): a :class:`Budget`, shared by every schema of
one request, caps the nodes that inlined refs may add; past it a ref becomes a
described object, as a cycle does. Schemas without refs never touch it.

:func:`from_gemini` turns a Gemini schema (upper-case types, ``nullable``)
into plain JSON Schema for the other formats.
"""

from __future__ import annotations

from .ir import JSONObject, JSONValue

__all__ = ["Budget", "clean_for_gemini", "from_gemini"]

_MAX_DEPTH = 40
#: Nodes inlined refs may add per request: far above any real schema, and cleaned
#: in a few milliseconds.
REF_NODES = 10_000
_FORMATS = {
    "string": {"enum", "date-time"},
    "number": {"float", "double"},
    "integer": {"int32", "int64"},
}
_HINTED = (
    "minLength",
    "maxLength",
    "pattern",
    "exclusiveMinimum",
    "exclusiveMaximum",
    "multipleOf",
    "uniqueItems",
    "minProperties",
    "maxProperties",
    "default",
)


class Budget:
    """How many more nodes inlined refs may add (one per request, shared by its schemas)."""

    __slots__ = ("left",)

    def __init__(self, nodes: int = REF_NODES) -> None:
        self.left = nodes

    def spend(self) -> bool:
        self.left -= 1
        return self.left >= 0


def _as_obj(value: JSONValue) -> JSONObject:
    return value if isinstance(value, dict) else {}


def _lookup(root: JSONObject, ref: str) -> JSONObject | None:
    if ref == "#":
        return root
    if not ref.startswith("#/"):
        return None
    node: JSONValue = root
    for raw in ref[2:].split("/"):
        key = raw.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node if isinstance(node, dict) else None


def _resolve(
    node: JSONObject, root: JSONObject, active: frozenset[str], budget: Budget
) -> tuple[JSONObject, frozenset[str]]:
    while "$ref" in node:
        ref = node["$ref"]
        rest = {k: v for k, v in node.items() if k != "$ref"}
        target = _lookup(root, ref) if isinstance(ref, str) and ref not in active else None
        if target is None or not isinstance(ref, str) or not budget.spend():
            return _unresolved(ref, rest), active
        node = {**target, **rest}
        active = active | {ref}
    return node, active


def _unresolved(ref: JSONValue, rest: JSONObject) -> JSONObject:
    """A ref left out (cycle, unknown target, budget spent): an object named after it."""
    name = str(ref).rsplit("/", 1)[-1] or "object"
    desc = rest.get("description")
    hint = f"See: {name}"
    return {"type": "object", "description": f"{desc} ({hint})" if desc else hint}


def _type_of(node: JSONObject) -> str:
    t = node.get("type")
    if isinstance(t, list):
        t = next((x for x in t if isinstance(x, str) and x.lower() != "null"), None)
    if isinstance(t, str):
        return t.lower()
    if "properties" in node:
        return "object"
    if "items" in node:
        return "array"
    return ""


def _score(node: JSONObject) -> int:
    t = _type_of(node)
    return {"object": 3, "array": 2, "null": 0, "": -1}.get(t, 1)


def _is_null(node: JSONObject) -> bool:
    t = node.get("type")
    return isinstance(t, str) and t.lower() == "null"


def _flatten_union(
    node: JSONObject, root: JSONObject, active: frozenset[str], budget: Budget
) -> JSONObject:
    for _ in range(_MAX_DEPTH):
        key = "anyOf" if "anyOf" in node else "oneOf" if "oneOf" in node else ""
        if not key:
            break
        branches_raw = node.get(key)
        if not isinstance(branches_raw, list):
            node = {k: v for k, v in node.items() if k != key}
            continue
        base = {k: v for k, v in node.items() if k != key}
        branches = [_resolve(_as_obj(b), root, active, budget)[0] for b in branches_raw]
        typed = [b for b in branches if _score(b) > 0]
        nullable = any(_is_null(b) for b in branches)
        if not typed:
            node = base
            if nullable:
                node["nullable"] = True
            continue
        best = max(typed, key=_score)
        merged: JSONObject = {**best, **{k: v for k, v in base.items() if k != "description"}}
        desc = base.get("description") or best.get("description")
        kinds = list(dict.fromkeys(_type_of(b) for b in typed))
        hint = "Accepts: " + " | ".join(kinds) if len(kinds) > 1 else ""
        if desc or hint:
            merged["description"] = f"{desc} ({hint})" if desc and hint else (desc or hint)
        if nullable:
            merged["nullable"] = True
        node = merged
    return node


def _merge_all_of(
    node: JSONObject, root: JSONObject, active: frozenset[str], budget: Budget
) -> JSONObject:
    parts = node.get("allOf")
    if not isinstance(parts, list):
        return node
    out: JSONObject = {k: v for k, v in node.items() if k != "allOf"}
    props = dict(_as_obj(out.get("properties")))
    own = out.get("required")
    required: list[JSONValue] = (
        [r for r in own if isinstance(r, str)] if isinstance(own, list) else []
    )
    for raw in parts:
        sub, seen = _resolve(_as_obj(raw), root, active, budget)
        sub = _merge_all_of(sub, root, seen, budget)
        props.update(_as_obj(sub.get("properties")))
        sub_req = sub.get("required")
        if isinstance(sub_req, list):
            required += [r for r in sub_req if isinstance(r, str) and r not in required]
        for k, v in sub.items():
            if k not in ("properties", "required"):
                out.setdefault(k, v)
    if props:
        out["properties"] = props
    if required:
        out["required"] = required
    return out


def _fmt(value: JSONValue) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _clean(
    raw: JSONValue, root: JSONObject, active: frozenset[str], depth: int, budget: Budget
) -> JSONObject:
    if depth > _MAX_DEPTH:
        return {"type": "object", "description": "(nested schema omitted)"}
    node, active = _resolve(_as_obj(raw), root, active, budget)
    if active and not budget.spend():  # a node that exists only through inlining
        return {"type": "object", "description": "(nested schema omitted)"}
    node = _merge_all_of(node, root, active, budget)
    node = _flatten_union(node, root, active, budget)
    node, active = _resolve(node, root, active, budget)

    out: JSONObject = {}
    hints: list[str] = []
    nullable = node.get("nullable") is True
    raw_type = node.get("type")
    if isinstance(raw_type, list):
        names = [t.lower() for t in raw_type if isinstance(t, str)]
        nullable = nullable or "null" in names
        rest = [t for t in names if t != "null"]
        if len(rest) > 1:
            hints.append("Accepts: " + " | ".join(rest))
    elif isinstance(raw_type, str) and raw_type.lower() == "null":
        nullable = True
    t = _type_of(node)
    if t == "null":
        t = "string"

    enum = node.get("enum")
    if "const" in node:
        enum = [node["const"]]
    if isinstance(enum, list) and enum:
        if all(isinstance(v, str) for v in enum) and t in ("", "string"):
            out["enum"] = list(enum)
            t = "string"
        else:
            hints.append("Allowed: " + ", ".join(_fmt(v) for v in enum))
    if t:
        out["type"] = t
    if nullable:
        out["nullable"] = True

    fmt = node.get("format")
    if isinstance(fmt, str):
        if fmt in _FORMATS.get(t, set()):
            out["format"] = fmt
        else:
            hints.append(f"format: {fmt}")
    for key in ("minimum", "maximum"):
        value = node.get(key)
        if (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and t in ("number", "integer")
        ):
            out[key] = value
    for key in ("minItems", "maxItems"):
        value = node.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and t == "array":
            out[key] = value
    for key in _HINTED:
        if key in node and not isinstance(node[key], dict | list):
            hints.append(f"{key}: {_fmt(node[key])}")

    props = node.get("properties")
    if isinstance(props, dict) and t in ("object", ""):
        cleaned: JSONObject = {
            name: _clean(sub, root, active, depth + 1, budget) for name, sub in props.items()
        }
        out["properties"] = cleaned
        req = node.get("required")
        if isinstance(req, list):
            keep: list[JSONValue] = [r for r in req if isinstance(r, str) and r in cleaned]
            if keep:
                out["required"] = list(dict.fromkeys(keep))
        order = node.get("propertyOrdering")
        if isinstance(order, list):
            ordered: list[JSONValue] = [p for p in order if isinstance(p, str) and p in cleaned]
            if ordered:
                out["propertyOrdering"] = ordered
    items = node.get("items")
    if isinstance(items, list):  # tuple form: the first item type stands for all
        items = items[0] if items else None
    if t == "array":
        out["items"] = (
            _clean(items, root, active, depth + 1, budget) if isinstance(items, dict) else {}
        )
        if not out["items"]:
            out["items"] = {"type": "string"}

    desc = node.get("description")
    text = desc if isinstance(desc, str) else ""
    hints = [h for h in hints if h not in text]
    if hints:
        joined = "; ".join(hints)
        text = f"{text} ({joined})" if text else joined
    if text:
        out["description"] = text
    return out


def clean_for_gemini(schema: JSONObject, budget: Budget | None = None) -> JSONObject:
    """A copy of ``schema`` Gemini accepts (see the module docstring); ``budget`` is the
    request's, when it has several schemas."""
    return _clean(schema, schema, frozenset(), 0, budget or Budget())


def from_gemini(schema: JSONValue) -> JSONValue:
    """Gemini / OpenAPI schema -> JSON Schema: lower-case types, nullable as a
    type union, Gemini-only keywords removed."""
    if isinstance(schema, list):
        return [from_gemini(v) for v in schema]
    if not isinstance(schema, dict):
        return schema
    out: JSONObject = {}
    for key, value in schema.items():
        if key in ("nullable", "propertyOrdering"):
            continue
        if key == "properties" and isinstance(value, dict):
            out[key] = {name: from_gemini(sub) for name, sub in value.items()}
        elif key == "type" and isinstance(value, str):
            out[key] = value.lower()
        elif key == "format" and value == "enum":
            continue
        elif key in (
            "items",
            "anyOf",
            "oneOf",
            "allOf",
            "not",
            "additionalProperties",
            "$defs",
            "definitions",
        ):
            if key in ("$defs", "definitions") and isinstance(value, dict):
                out[key] = {name: from_gemini(sub) for name, sub in value.items()}
            else:
                out[key] = from_gemini(value)
        else:
            out[key] = value
    if (
        schema.get("nullable") is True
        and isinstance(out.get("type"), str)
        and out["type"] != "null"
    ):
        out["type"] = [out["type"], "null"]
    return out
