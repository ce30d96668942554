"""Throwaway TLS certificates for tests: a CA and a certificate for 127.0.0.1 it signed."""

from __future__ import annotations

import subprocess
from pathlib import Path

from config.redis_server import TLSFiles

__all__ = ["make_certificates"]


def make_certificates(directory: Path) -> TLSFiles:
    """A throwaway CA and a certificate for 127.0.0.1 signed by it (openssl CLI).

    Both pass the strict X.509 checks (``ssl.VERIFY_X509_STRICT``) that Python 3.13's default
    context, and so redis-py's and requests', turns on: the CA states its key usage, and the
    server certificate names the key that signed it. Without them 3.13 refuses the
    certificate ("CA cert does not include key usage extension").
    """
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        directory / name for name in ("ca.key", "ca.pem", "server.key", "server.csr", "server.pem")
    )
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    extensions = directory / "server.ext"
    extensions.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1\n"
        "subjectKeyIdentifier=hash\nauthorityKeyIdentifier=keyid\n"
    )

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], check=True, capture_output=True)

    days = ["-days", "2"]
    as_ca = ["-subj", "/CN=CA", "-addext", "keyUsage=critical,keyCertSign,cRLSign"]
    openssl("req", "-x509", *ec, *days, *as_ca, "-keyout", str(ca_key), "-out", str(ca))
    openssl("req", *ec, "-keyout", str(key), "-out", str(csr), "-subj", "/CN=127.0.0.1")
    signing = [
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-extfile",
        str(extensions),
    ]
    openssl("x509", "-req", *days, *signing, "-in", str(csr), "-out", str(cert))
    return TLSFiles(cert_file=cert, key_file=key, ca_file=ca)
