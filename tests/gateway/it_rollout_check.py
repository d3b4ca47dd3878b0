#!/usr/bin/python3
"""Validates what the rollout integration test received against the operator contract.

it_rollout_check.py SCHEMAS EVENTS.jsonl [SCHEMA=FILE ...]: every event line against
event-<kind> (kind with '.' as '-'), and each FILE against schema SCHEMA. Prints what is
invalid; exit status 1 if anything is.
"""
import json
import pathlib
import sys

import jsonschema


def main():
    d = pathlib.Path(sys.argv[1])
    store = {s["$id"]: s for s in (json.loads(p.read_text()) for p in d.glob("*.schema.json"))}
    validators = {}

    def check(name, inst, what):
        if name not in validators:
            schema = json.loads((d / f"{name}.schema.json").read_text())
            validators[name] = jsonschema.Draft202012Validator(
                schema, resolver=jsonschema.RefResolver.from_schema(schema, store=store))
        errs = list(validators[name].iter_errors(inst))
        for e in errs[:3]:
            print(f"{what}: {name}{e.json_path}: {e.message[:300]}")
        return not errs

    bad = n = 0
    for line in open(sys.argv[2]):
        if not line.strip():
            continue
        ev = json.loads(line)
        n += 1
        bad += not check("event-" + ev["event"].replace(".", "-"), ev, f"event {ev['seq']}")
    for pair in sys.argv[3:]:
        name, path = pair.split("=", 1)
        bad += not check(name, json.load(open(path)), path)
    print(f"it_rollout_check: {n} events and {len(sys.argv) - 3} documents, {bad} invalid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
