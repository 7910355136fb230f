"""Splits multi-document Kubernetes YAML into one file per resource.

Usage: split_manifests.py OUTDIR < rendered.yaml

Each resource goes to OUTDIR/<Kind>-<namespace>-<name>.yaml (namespace `cluster` for
cluster-scoped resources), so that scanners report findings per resource and their ignore
lists can name exactly one resource (a ConfigMap's generated hash suffix is dropped).
"""

import pathlib
import re
import sys

import yaml


def file_name(doc: dict) -> str:
    meta = doc.get("metadata") or {}
    name = meta.get("name", "unnamed")
    if doc.get("kind") == "ConfigMap":
        name = re.sub(r"-[a-z0-9]{10}$", "", name)
    return f"{doc.get('kind', 'Unknown')}-{meta.get('namespace', 'cluster')}-{name}.yaml"


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    out = pathlib.Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    for doc in yaml.safe_load_all(sys.stdin):
        if not doc:
            continue
        path = out / file_name(doc)
        if path.exists():
            print(f"error: two resources map to {path.name}", file=sys.stderr)
            return 1
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
