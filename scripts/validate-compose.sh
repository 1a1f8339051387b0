#!/usr/bin/env bash
# scripts/validate-compose.sh [FILE] — validates docker-compose.yml without a Docker engine:
#   1. against the Compose Specification JSON schema (compose-spec's compose_spec.json, as shipped in
#      the npm package dclint@3.1.0 at schemas/compose.schema.json) with check-jsonschema (PyPI);
#   2. references the schema cannot see: every build context and Dockerfile exists, every COPY/ADD
#      source of those Dockerfiles exists in its context (and is not excluded by .dockerignore's
#      top-level entries), every depends_on target is a service, and `service_healthy` targets have a
#      healthcheck.
# Tools are installed once into .cache/validate-compose/ (npm + a Python venv). Exit 0 only if all pass.
set -euo pipefail
ROOT="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/.." && pwd -P)"
FILE="${1:-$ROOT/docker-compose.yml}"
CACHE="$ROOT/.cache/validate-compose"
DCLINT_VERSION=3.1.0
CHECK_JSONSCHEMA_VERSION=0.39.0
SCHEMA="$CACHE/npm/node_modules/dclint/schemas/compose.schema.json"
VENV="$CACHE/venv"

log() { printf '[validate-compose] %s\n' "$*" >&2; }

mkdir -p "$CACHE"
if [[ ! -f "$SCHEMA" ]]; then
  log "installing the compose-spec schema from npm (dclint@$DCLINT_VERSION)"
  mkdir -p "$CACHE/npm"
  npm install --prefix "$CACHE/npm" --no-save --no-audit --no-fund --ignore-scripts --loglevel=error "dclint@$DCLINT_VERSION" >&2
fi
if [[ ! -x "$VENV/bin/check-jsonschema" ]]; then
  log "installing check-jsonschema==$CHECK_JSONSCHEMA_VERSION from PyPI"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "check-jsonschema==$CHECK_JSONSCHEMA_VERSION" >&2
fi

title="$("$VENV/bin/python" -c 'import json,sys; d=json.load(open(sys.argv[1])); print(d.get("title"), d.get("$id"))' "$SCHEMA")"
log "schema: $title ($SCHEMA)"

status=0
echo "== schema: $FILE against the Compose Specification"
if "$VENV/bin/check-jsonschema" --schemafile "$SCHEMA" "$FILE"; then
  echo "PASS schema"
else
  echo "FAIL schema"; status=1
fi

echo "== references: build contexts, Dockerfiles, COPY sources, depends_on"
if "$VENV/bin/python" - "$FILE" <<'PY'
import os, re, shlex, sys
from ruamel.yaml import YAML

path = sys.argv[1]
base = os.path.dirname(os.path.abspath(path))
doc = YAML(typ="safe").load(open(path))
services = doc.get("services") or {}
errors, checked = [], 0

def dockerignore(ctx):
    f = os.path.join(ctx, ".dockerignore")
    if not os.path.exists(f):
        return []
    return [l.strip().rstrip("/") for l in open(f) if l.strip() and not l.startswith("#") and not l.startswith("!")]

def copy_sources(dockerfile):
    """(line number, source) of COPY/ADD instructions that read from the build context."""
    text = open(dockerfile).read().replace("\\\n", " ")
    for n, line in enumerate(text.splitlines(), 1):
        words = line.strip().split()
        if not words or words[0].upper() not in ("COPY", "ADD"):
            continue
        args = [w for w in shlex.split(line.strip())[1:]]
        if any(a.startswith("--from") for a in args):
            continue
        args = [a for a in args if not a.startswith("--")]
        if len(args) >= 2 and args[0].startswith("["):
            continue  # JSON form: rare here; skip
        for src in args[:-1]:
            yield n, src

for name, svc in services.items():
    build = svc.get("build")
    if build is None:
        if "image" not in svc:
            errors.append(f"{name}: neither build nor image")
        continue
    if isinstance(build, str):
        build = {"context": build}
    ctx = os.path.normpath(os.path.join(base, build.get("context", ".")))
    if not os.path.isdir(ctx):
        errors.append(f"{name}: build context {build.get('context')} does not exist")
        continue
    dockerfile = os.path.join(ctx, build.get("dockerfile", "Dockerfile"))
    if not os.path.isfile(dockerfile):
        errors.append(f"{name}: Dockerfile {os.path.relpath(dockerfile, base)} does not exist")
        continue
    checked += 1
    ignored = dockerignore(ctx)
    for n, src in copy_sources(dockerfile):
        rel = os.path.normpath(src.lstrip("/"))
        if any(ch in rel for ch in "*?["):
            import glob
            ok = bool(glob.glob(os.path.join(ctx, rel)))
        else:
            ok = os.path.exists(os.path.join(ctx, rel))
        if not ok:
            errors.append(f"{name}: {os.path.relpath(dockerfile, base)}:{n}: COPY source {src} does not exist in the context")
        elif rel.split(os.sep)[0] in ignored:
            errors.append(f"{name}: {os.path.relpath(dockerfile, base)}:{n}: COPY source {src} is excluded by .dockerignore")
    print(f"ok   {name}: context {os.path.relpath(ctx, base) or '.'}, {os.path.relpath(dockerfile, base)}")

for name, svc in services.items():
    deps = svc.get("depends_on") or {}
    if isinstance(deps, list):
        deps = {d: {"condition": "service_started"} for d in deps}
    for dep, spec in deps.items():
        if dep not in services:
            errors.append(f"{name}: depends_on unknown service {dep}")
        elif (spec or {}).get("condition") == "service_healthy" and "healthcheck" not in services[dep]:
            errors.append(f"{name}: depends_on {dep} service_healthy, but {dep} has no healthcheck")

for e in errors:
    print("FAIL", e)
print(f"{checked} built services checked, {len(errors)} problem(s)")
sys.exit(1 if errors else 0)
PY
then
  echo "PASS references"
else
  echo "FAIL references"; status=1
fi
exit $status
