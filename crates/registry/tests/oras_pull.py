"""Pulls a BitVault package with the `oras` Python library (the interop
check of tests/remote.rs) and prints the sha256 of everything it pulled.

    python3 oras_pull.py HOST:PORT REPOSITORY TAG OUTDIR

Plain HTTP (insecure). Prints one line per item, `pulled <digest> <what>`:
the manifest's own bytes, its config blob and each layer that `oras pull`
wrote (by its title annotation). Exits 3 when `oras` is not installed.
"""

import hashlib
import os
import sys

try:
    import oras.client
except ImportError:
    print("the oras library is not installed (pip install oras==0.2.43)", file=sys.stderr)
    sys.exit(3)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def main():
    host, repository, tag, outdir = sys.argv[1:5]
    client = oras.client.OrasClient(hostname=host, insecure=True)
    target = f"{host}/{repository}:{tag}"

    # The manifest as served, byte for byte.
    container = client.get_container(target)
    response = client.do_request(
        f"http://{container.manifest_url()}", "GET", headers={"Accept": OCI_MANIFEST}
    )
    response.raise_for_status()
    print(f"pulled {sha256(response.content)} manifest", flush=True)
    manifest = client.get_manifest(container, allowed_media_type=[OCI_MANIFEST])

    config = os.path.join(outdir, "config.json")
    client.download_blob(container, manifest["config"]["digest"], config)
    with open(config, "rb") as f:
        print(f"pulled {sha256(f.read())} config", flush=True)

    # `oras pull`: every layer, written under its title.
    for path in client.pull(target=target, outdir=outdir, allowed_media_type=[OCI_MANIFEST]):
        with open(path, "rb") as f:
            print(f"pulled {sha256(f.read())} {os.path.basename(path)}", flush=True)


if __name__ == "__main__":
    main()
