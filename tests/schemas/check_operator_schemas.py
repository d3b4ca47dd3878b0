#!/usr/bin/env python3
"""Checks the operator-plane JSON Schemas (schemas/operator/) and their examples.

Run by CTest with Debian's python3 and python3-jsonschema (4.10); also works with the
`referencing`-based jsonschema >= 4.18. Never touches the network: every $ref is resolved from
the local files, keyed by their $id.

Checks, one per subcommand (CTest registers each as its own test):
  meta      every schema is valid against the draft 2020-12 metaschema, its $id is
            BASE + its file name, every $ref in it resolves locally, and every object
            schema that lists properties says explicitly whether others are allowed.
  examples  schemas/examples/operator/<stem>[--<variant>].json validates against
            schemas/operator/<stem>.schema.json; invalid/<stem>--<why>.json is rejected,
            and rejected for the keyword that invalid/expected.json names for it; every
            schema except definitions-only files has at least one valid example, and every
            request schema at least one invalid example.
  bounds    the identifier bounds in common.schema.json equal the #defines of
            protocol/include/tinyfleet/protocol/common.h.
  readme    the operations table of schemas/README.md lists exactly OPERATIONS below, with
            their request and response schemas, and every error and reason code is
            explained there.
  respond   a stub gateway for one request (body on stdin, operation as argument): answers
            bad_json, unknown_operation or invalid_request exactly as the contract says, or
            else the operation's example response. Used by the shell exchange test.
  validate  validate one JSON file against one schema (exit 1 and the errors if invalid).
"""

import argparse
import json
import os
import re
import sys

import jsonschema
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

BASE = "https://tinyfleet.invalid/schemas/operator/v1/"
SCHEMA_SUFFIX = ".schema.json"
META = "https://json-schema.org/draft/2020-12/schema"

# Keys a definitions-only file may hold at its root: such a file validates nothing itself,
# so it needs no example of its own (its definitions are exercised through other schemas).
DEFS_ONLY_KEYS = {"$schema", "$id", "title", "description", "$defs"}


class Failures:
    def __init__(self):
        self.items = []

    def add(self, where, what):
        self.items.append(f"{where}: {what}")

    def report(self, name, checked):
        for item in self.items:
            print(f"FAIL {item}")
        print(f"{name}: {checked} checked, {len(self.items)} failure(s)")
        return 1 if self.items else 0


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def load_schemas(schema_dir):
    """Returns {file name: schema} for every *.schema.json in schema_dir."""
    schemas = {}
    for name in sorted(os.listdir(schema_dir)):
        if name.endswith(SCHEMA_SUFFIX):
            schemas[name] = load_json(os.path.join(schema_dir, name))
    if not schemas:
        raise SystemExit(f"no schemas in {schema_dir}")
    return schemas


class Resolver:
    """Local-only $ref resolution for both jsonschema APIs (RefResolver before 4.18,
    referencing.Registry after)."""

    def __init__(self, schemas):
        self.by_id = {s["$id"]: s for s in schemas.values() if "$id" in s}
        try:
            import referencing  # noqa: F401  (jsonschema >= 4.18)
            from referencing import Registry, Resource
            from referencing.jsonschema import DRAFT202012

            def refuse(uri):
                raise LookupError(f"{uri} is not a local schema (no network lookups)")

            self.registry = Registry(retrieve=refuse).with_resources(
                (i, Resource.from_contents(s, default_specification=DRAFT202012))
                for i, s in self.by_id.items())
            self.modern = True
        except ImportError:
            self.modern = False

    def validator(self, schema):
        checker = Draft202012Validator.FORMAT_CHECKER
        if self.modern:
            return Draft202012Validator(schema, registry=self.registry, format_checker=checker)
        resolver = jsonschema.RefResolver(base_uri=schema.get("$id", ""), referrer=schema,
                                          store=dict(self.by_id))
        # Refuse remote lookups: a $ref that is not in the store is a failure, not a fetch.
        resolver.resolve_remote = lambda uri: (_ for _ in ()).throw(
            jsonschema.RefResolutionError(f"{uri} is not a local schema"))
        return Draft202012Validator(schema, resolver=resolver, format_checker=checker)

    def resolves(self, base, ref):
        """True if ref (relative to the schema whose $id is base) names an existing subschema."""
        if self.modern:
            try:
                self.registry.resolver(base_uri=base).lookup(ref)
                return True
            except Exception:  # referencing raises several unrelated types
                return False
        resolver = jsonschema.RefResolver(base_uri=base, referrer=self.by_id.get(base, {}),
                                          store=dict(self.by_id))
        resolver.resolve_remote = lambda uri: (_ for _ in ()).throw(
            jsonschema.RefResolutionError(uri))
        try:
            resolver.resolve(ref)
            return True
        except (jsonschema.RefResolutionError, KeyError, IndexError, TypeError):
            return False


def walk(node, path=""):
    """Yields (json pointer, dict) for every object inside a schema document."""
    if isinstance(node, dict):
        yield path, node
        for k, v in node.items():
            yield from walk(v, f"{path}/{k}")
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from walk(v, f"{path}/{i}")


def is_defs_only(schema):
    return set(schema) <= DEFS_ONLY_KEYS


def cmd_meta(args):
    fails = Failures()
    schemas = load_schemas(args.schemas)
    res = Resolver(schemas)
    refs = 0
    for name, schema in schemas.items():
        if schema.get("$schema") != META:
            fails.add(name, f"$schema must be {META}")
        if schema.get("$id") != BASE + name:
            fails.add(name, f"$id must be {BASE + name}, is {schema.get('$id')}")
        try:
            Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            fails.add(name, f"not a valid draft 2020-12 schema: {e.message} at "
                            f"/{'/'.join(map(str, e.absolute_path))}")
        for ptr, node in walk(schema):
            ref = node.get("$ref")
            if isinstance(ref, str):
                refs += 1
                if not res.resolves(schema["$id"], ref):
                    fails.add(name, f"$ref {ref} at {ptr} does not resolve to a local schema")
            # Each object schema that lists properties must decide about the others: the
            # gateway refuses unknown members, so an open object has to be a choice. (Subschemas
            # without "type": "object", such as if-conditions, only test members.)
            if node.get("type") == "object" and isinstance(node.get("properties"), dict) \
                    and "additionalProperties" not in node and "unevaluatedProperties" not in node:
                fails.add(name, f"{ptr or '/'}: object lists properties without "
                                "additionalProperties")
    return fails.report("meta", f"{len(schemas)} schemas, {refs} $refs")


def stem_of(file_name):
    """'<stem>.json' or '<stem>--<variant>.json' -> stem; the convention is the mapping."""
    base = file_name[:-len(".json")]
    return base.split("--", 1)[0]


def rejected_for(errors, keyword):
    """True if some error, or an error nested inside a oneOf/anyOf/allOf/$ref, failed keyword."""
    stack = list(errors)
    while stack:
        e = stack.pop()
        if e.validator == keyword:
            return True
        stack.extend(e.context or [])
    return False


def cmd_examples(args):
    fails = Failures()
    schemas = load_schemas(args.schemas)
    res = Resolver(schemas)
    validators = {name: res.validator(s) for name, s in schemas.items()}
    covered = set()
    checked = 0

    for name in sorted(os.listdir(args.examples)):
        path = os.path.join(args.examples, name)
        if not name.endswith(".json") or not os.path.isfile(path):
            continue
        schema_name = stem_of(name) + SCHEMA_SUFFIX
        if schema_name not in validators:
            fails.add(name, f"no schema {schema_name} for this example (name it <stem>.json "
                            "or <stem>--<variant>.json)")
            continue
        checked += 1
        errors = sorted(validators[schema_name].iter_errors(load_json(path)),
                        key=lambda e: list(e.absolute_path))
        for e in errors:
            # A failed oneOf says little; its closest branch error says what is wrong.
            e = best_match(e.context) if e.context else e
            fails.add(name, f"invalid against {schema_name} at "
                            f"/{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
        if not errors:
            covered.add(schema_name)

    inv_dir = os.path.join(args.examples, "invalid")
    expected = load_json(os.path.join(inv_dir, "expected.json"))
    seen = set()
    for name in sorted(os.listdir(inv_dir)):
        if not name.endswith(".json") or name == "expected.json":
            continue
        seen.add(name)
        if "--" not in name:
            fails.add(f"invalid/{name}", "name it <stem>--<why it is invalid>.json")
            continue
        schema_name = stem_of(name) + SCHEMA_SUFFIX
        if schema_name not in validators:
            fails.add(f"invalid/{name}", f"no schema {schema_name}")
            continue
        keyword = expected.get(name)
        if not isinstance(keyword, str):
            fails.add(f"invalid/{name}", "invalid/expected.json must name the JSON Schema "
                                         "keyword that rejects it")
            continue
        checked += 1
        errors = list(validators[schema_name].iter_errors(
            load_json(os.path.join(inv_dir, name))))
        if not errors:
            fails.add(f"invalid/{name}", f"accepted by {schema_name}, must be rejected")
        elif not rejected_for(errors, keyword):
            got = sorted({e.validator for e in errors})
            fails.add(f"invalid/{name}", f"rejected, but not for '{keyword}' (got {got}): "
                                         "the example does not test what its name says")
    for name in sorted(set(expected) - seen):
        fails.add("invalid/expected.json", f"names {name}, which does not exist")

    refused = {stem_of(n) + SCHEMA_SUFFIX for n in seen}
    for name, schema in schemas.items():
        if name not in covered and not is_defs_only(schema):
            fails.add(name, "has no valid example in " + args.examples)
        # The gateway refuses bad requests: each request schema shows at least one.
        if name.endswith("-request" + SCHEMA_SUFFIX) and name not in refused:
            fails.add(name, "request schema without an invalid example in invalid/")
    return fails.report("examples", f"{checked} examples")


# Bound in common.schema.json -> (#define in common.h, keyword, factor).
BOUNDS = {
    "device_id": ("TFP_DEVICE_ID_MAX", "maxLength", 1),
    "device_class": ("TFP_CLASS_MAX", "maxLength", 1),
    "model_name": ("TFP_MODEL_NAME_MAX", "maxLength", 1),
    "version": ("TFP_VERSION_MAX", "maxLength", 1),
    "sensor": ("TFP_SENSOR_NAME_MAX", "maxLength", 1),
    "sensors": ("TFP_SENSORS_MAX", "maxItems", 1),
    "key_id": ("TFP_KEY_ID_MAX", "maxLength", 1),
}


def cmd_bounds(args):
    fails = Failures()
    defines = {}
    with open(args.common_h, encoding="utf-8") as f:
        for line in f:
            m = re.match(r"\s*#define\s+(TFP_\w+)\s+(\d+)\b", line)
            if m:
                defines[m.group(1)] = int(m.group(2))
    defs = load_json(os.path.join(args.schemas, "common.schema.json"))["$defs"]
    for def_name, (macro, keyword, factor) in BOUNDS.items():
        if macro not in defines:
            fails.add("common.h", f"{macro} not found")
            continue
        have = defs.get(def_name, {}).get(keyword)
        want = defines[macro] * factor
        if have != want:
            fails.add(f"common.schema.json#/$defs/{def_name}",
                      f"{keyword} is {have}, {macro} says {want}")
    digest_hex = 2 * defines.get("TFP_DIGEST_LEN", 0)
    if defs["digest"].get("pattern") != f"^[0-9a-f]{{{digest_hex}}}$":
        fails.add("common.schema.json#/$defs/digest",
                  f"pattern must accept exactly {digest_hex} lowercase hex digits "
                  "(2 * TFP_DIGEST_LEN)")
    return fails.report("bounds", f"{len(BOUNDS) + 1} bounds")

# The operations of the contract: operation -> (request schema stem, response schema stem).
OPERATIONS = {
    "model.publish": ("model-publish-request", "model-publish-response"),
    "model.list": ("model-list-request", "model-list-response"),
    "model.get": ("model-get-request", "model-get-response"),
    "device.list": ("device-list-request", "device-list-response"),
    "device.get": ("device-get-request", "device-get-response"),
    "device.tags": ("device-tags-request", "device-tags-response"),
    "rollout.create": ("rollout-create-request", "rollout-create-response"),
    "rollout.start": ("rollout-action-request", "rollout-action-response"),
    "rollout.pause": ("rollout-action-request", "rollout-action-response"),
    "rollout.resume": ("rollout-action-request", "rollout-action-response"),
    "rollout.abort": ("rollout-action-request", "rollout-action-response"),
    "rollout.rollback": ("rollout-rollback-request", "rollout-action-response"),
    "rollout.status": ("rollout-status-request", "rollout-status-response"),
    "rollout.list": ("rollout-list-request", "rollout-list-response"),
    "fleet.status": ("fleet-status-request", "fleet-status-response"),
}


def cmd_readme(args):
    fails = Failures()
    with open(args.readme, encoding="utf-8") as f:
        text = f.read()
    rows = {}
    for line in text.splitlines():
        m = re.match(r"\|\s*`([a-z]+\.[a-z]+)`\s*\|\s*`([a-z-]+)`.*?`([a-z-]+-response)`", line)
        if m:
            rows[m.group(1)] = (m.group(2), m.group(3))
    for op, want in OPERATIONS.items():
        if op not in rows:
            fails.add("README.md", f"operation {op} missing from the operations table")
        elif rows[op] != want:
            fails.add("README.md", f"operation {op}: table says {rows[op]}, contract {want}")
    for op in sorted(set(rows) - set(OPERATIONS)):
        fails.add("README.md", f"operations table lists {op}, which OPERATIONS does not know")
    defs = load_json(os.path.join(args.schemas, "common.schema.json"))["$defs"]
    codes = defs["error_code"]["enum"] + defs["reason_code"]["enum"]
    for code in codes:
        if f"`{code}`" not in text:
            fails.add("README.md", f"code {code} is not explained")
    return fails.report("readme", f"{len(OPERATIONS)} operations, {len(codes)} codes")


def error(code, message, **details):
    e = {"code": code, "message": message}
    if details:
        e["details"] = details
    return {"ok": False, "error": e}


def cmd_respond(args):
    """What the gateway's API front does before an operation runs, as a reference."""
    body = sys.stdin.buffer.read()
    schemas = load_schemas(args.schemas)
    res = Resolver(schemas)
    if args.operation not in OPERATIONS:
        answer = error("unknown_operation", f"no operation {args.operation}")
    else:
        req_stem, resp_stem = OPERATIONS[args.operation]
        try:
            request = json.loads(body.decode("utf-8"))
            if not isinstance(request, dict):
                raise ValueError("not an object")
        except (UnicodeDecodeError, ValueError):
            request = None
            answer = error("bad_json", "the request is not one UTF-8 JSON object")
        if request is not None:
            errors = list(res.validator(schemas[req_stem + SCHEMA_SUFFIX]).iter_errors(request))
            if errors:
                e = best_match(errors)
                path = "".join(f"/{p}" for p in e.absolute_path)
                answer = error("invalid_request", f"{path or '/'}: {e.message}"[:512],
                               path=path, keyword=e.validator)
            else:
                answer = load_json(os.path.join(args.examples, resp_stem + ".json"))
    json.dump(answer, sys.stdout)
    sys.stdout.write("\n")
    return 0


def cmd_validate(args):
    schemas = load_schemas(args.schemas)
    v = Resolver(schemas).validator(schemas[args.schema + SCHEMA_SUFFIX])
    errors = list(v.iter_errors(load_json(args.file)))
    for e in errors:
        print(f"{args.file}: /{'/'.join(map(str, e.absolute_path))}: {e.message[:300]}")
    return 1 if errors else 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("command", choices=["meta", "examples", "bounds", "readme", "respond",
                                        "validate"])
    ap.add_argument("--schemas", required=True, help="schemas/operator")
    ap.add_argument("--examples", help="schemas/examples/operator")
    ap.add_argument("--common-h", help="protocol/include/tinyfleet/protocol/common.h")
    ap.add_argument("--readme", help="schemas/README.md")
    ap.add_argument("--operation", help="respond: the operation topic level")
    ap.add_argument("--schema", help="validate: schema stem, e.g. device-list-response")
    ap.add_argument("--file", help="validate: the JSON file")
    args = ap.parse_args()
    needs = {"examples": ["examples"], "bounds": ["common_h"], "readme": ["readme"],
             "respond": ["examples", "operation"], "validate": ["schema", "file"]}
    for opt in needs.get(args.command, []):
        if getattr(args, opt) is None:
            ap.error(f"{args.command} needs --{opt.replace('_', '-')}")
    return {"meta": cmd_meta, "examples": cmd_examples, "bounds": cmd_bounds,
            "readme": cmd_readme, "respond": cmd_respond, "validate": cmd_validate}[
        args.command](args)


if __name__ == "__main__":
    sys.exit(main())
