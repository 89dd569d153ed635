"""Turns a umoci layout holding one image per arch (tagged with the arch name) into a multi-arch
layout: writes an image index blob naming each image with its platform and points index.json at
it, as a release image index is published. Usage: oci_index.py LAYOUT ARCH..."""

import hashlib
import json
import sys
from pathlib import Path

lay = Path(sys.argv[1])
index = json.loads((lay / "index.json").read_text())
manifests = []
for arch in sys.argv[2:]:
    d = next(m for m in index["manifests"] if m.get("annotations", {}).get("org.opencontainers.image.ref.name") == arch)
    manifests.append({"mediaType": d["mediaType"], "digest": d["digest"], "size": d["size"],
                      "platform": {"architecture": arch, "os": "linux"}})
blob = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
                   "manifests": manifests}, separators=(",", ":")).encode()
digest = hashlib.sha256(blob).hexdigest()
(lay / "blobs" / "sha256" / digest).write_bytes(blob)
index["manifests"] = [{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": f"sha256:{digest}",
                       "size": len(blob), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]
(lay / "index.json").write_text(json.dumps(index, separators=(",", ":")))
