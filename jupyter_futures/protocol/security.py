"""``Security``: the TLS certificates of a cluster (the name and fields of dask's), and the SSL
contexts made from them.

A role is ``"scheduler"``, ``"worker"`` or ``"client"``: each presents its own certificate. With a
CA (``tls_ca_file``) a side trusts only certificates that CA signed, and a server requires one from
every peer (mutual TLS); host names are not checked then, as cluster processes reach each other by
IP address. Without a CA the system's trusted authorities verify the server, host name included.
The cluster token is checked inside the TLS connection as on plain TCP.
"""
from __future__ import annotations

import os
import shutil
import ssl
import sys
import subprocess
import tempfile
import weakref

ROLES = ("scheduler", "worker", "client")


class Security:
    """TLS settings of a cluster: a CA to trust, and a certificate and key for each role."""

    def __init__(self, tls_ca_file: str | None = None, tls_client_cert: str | None = None,
                 tls_client_key: str | None = None, tls_scheduler_cert: str | None = None,
                 tls_scheduler_key: str | None = None, tls_worker_cert: str | None = None,
                 tls_worker_key: str | None = None, require_encryption: bool = False):
        self.tls_ca_file = tls_ca_file
        self.tls_client_cert, self.tls_client_key = tls_client_cert, tls_client_key
        self.tls_scheduler_cert, self.tls_scheduler_key = tls_scheduler_cert, tls_scheduler_key
        self.tls_worker_cert, self.tls_worker_key = tls_worker_cert, tls_worker_key
        self.require_encryption = bool(require_encryption)
        self._contexts: dict[tuple[str, bool], ssl.SSLContext] = {}
        for path in (tls_ca_file, tls_client_cert, tls_client_key, tls_scheduler_cert, tls_scheduler_key,
                     tls_worker_cert, tls_worker_key):
            if path is not None and not os.path.isfile(path):
                raise FileNotFoundError(f"Security(): no file {path!r}: give the path of a PEM file")

    @classmethod
    def temporary(cls) -> Security:
        """A fresh self-signed certificate used as the CA and by every role, in a folder removed when
        this object is (as dask's ``Security.temporary()``; needs the ``openssl`` command)."""
        folder = tempfile.mkdtemp(prefix="jupyter-futures-tls-")
        try:
            cert, key = self_signed_certificate(folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        sec = cls(tls_ca_file=cert, tls_client_cert=cert, tls_client_key=key, tls_scheduler_cert=cert,
                  tls_scheduler_key=key, tls_worker_cert=cert, tls_worker_key=key, require_encryption=True)
        weakref.finalize(sec, shutil.rmtree, folder, True)
        return sec

    @classmethod
    def coerce(cls, value) -> Security | None:
        """``None``/``False`` -> None, ``True`` -> ``Security.temporary()``, a ``Security`` -> itself."""
        if value is None or value is False:
            return None
        if value is True:
            return cls.temporary()
        if isinstance(value, cls):
            return value
        raise TypeError(f"security={value!r}: give a Security object, or True for temporary certificates")

    def cert_for(self, role: str) -> tuple[str | None, str | None]:
        """(certificate file, key file) that ``role`` presents."""
        if role not in ROLES:
            raise ValueError(f"unknown TLS role {role!r}: one of {ROLES}")
        return getattr(self, f"tls_{role}_cert"), getattr(self, f"tls_{role}_key")

    def server_context(self, role: str) -> ssl.SSLContext:
        """The context a ``role`` server accepts TLS connections with (client certificates required
        when there is a CA)."""
        return self._context(role, True)

    def client_context(self, role: str) -> ssl.SSLContext:
        """The context a ``role`` process connects with."""
        return self._context(role, False)

    def _context(self, role: str, server: bool) -> ssl.SSLContext:
        ctx = self._contexts.get((role, server))
        if ctx is not None:
            return ctx
        cert, key = self.cert_for(role)
        if server and not cert:
            raise ValueError(f"a TLS {role} needs a certificate: Security(tls_{role}_cert=..., tls_{role}_key=...) "
                             f"or --tls-cert/--tls-key on its command line")
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.options |= ssl.OP_NO_RENEGOTIATION  # a write never has to wait for a read (comm's write path)
        if self.tls_ca_file:
            ctx.load_verify_locations(self.tls_ca_file)
            if server:
                ctx.verify_mode = ssl.CERT_REQUIRED
            else:
                ctx.check_hostname = False  # the CA is the cluster's own; peers are reached by IP
        elif not server:
            ctx.load_default_certs()
        if cert:
            ctx.load_cert_chain(cert, key)
        self._contexts[(role, server)] = ctx
        return ctx

    def cli_args(self, role: str) -> list[str]:
        """``--tls-ca/--tls-cert/--tls-key`` for a ``role`` process started with these settings."""
        cert, key = self.cert_for(role)
        args = ["--tls-ca", self.tls_ca_file] if self.tls_ca_file else []
        if cert:
            args += ["--tls-cert", cert] + (["--tls-key", key] if key else [])
        return args

    def __repr__(self) -> str:
        roles = [r for r in ROLES if self.cert_for(r)[0]]
        return f"Security(tls_ca_file={self.tls_ca_file!r}, certificates for {roles or 'no role'})"


def self_signed_certificate(folder: str, name: str = "jupyter-futures") -> tuple[str, str]:
    """Write a self-signed certificate (a CA, good for servers and clients, for localhost and
    127.0.0.1) and its key to ``folder`` with the ``openssl`` command; return their paths."""
    openssl = shutil.which("openssl")
    if openssl is None:
        raise RuntimeError("temporary TLS certificates need the 'openssl' command: install OpenSSL, or pass "
                           "Security(tls_ca_file=..., tls_..._cert=..., tls_..._key=...) with certificates of your own")
    config = os.path.join(folder, "openssl.cnf")
    with open(config, "w") as f:
        f.write(f"[req]\ndistinguished_name = dn\nx509_extensions = v3\nprompt = no\n[dn]\nCN = {name}\n"
                "[v3]\nbasicConstraints = critical,CA:TRUE\nkeyUsage = critical,digitalSignature,keyCertSign\n"
                "extendedKeyUsage = serverAuth,clientAuth\nsubjectAltName = DNS:localhost,IP:127.0.0.1\n")
    cert, key = os.path.join(folder, f"{name}.pem"), os.path.join(folder, f"{name}.key")
    old = os.umask(0o077)  # the key is readable by its owner only
    try:
        done = subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                               "-nodes", "-days", "3650", "-keyout", key, "-out", cert, "-config", config],
                              capture_output=True, text=True)
    finally:
        os.umask(old)
    if done.returncode != 0:
        raise RuntimeError(f"openssl could not make a certificate: {done.stderr.strip()}")
    return cert, key


def add_tls_arguments(parser, role: str) -> None:
    """``--tls-cert``, ``--tls-key``, ``--tls-ca`` for a ``role`` ("scheduler" or "worker") command."""
    group = parser.add_argument_group("TLS (the cluster token is still required)")
    group.add_argument("--tls-cert", default=None, help=f"PEM certificate this {role} presents; turns TLS on")
    group.add_argument("--tls-key", default=None, help="PEM private key of --tls-cert (if not in that file)")
    group.add_argument("--tls-ca", default=None,
                       help="PEM CA: trust only certificates it signed, and require one from every peer (mutual TLS)")


def security_from_args(args, role: str):
    """The ``Security`` the TLS options describe (None without them); exits with the reason if they are
    unusable (a missing file, a key that does not match)."""
    if not (args.tls_cert or args.tls_key or args.tls_ca):
        return None
    if not args.tls_cert:
        sys.exit(f"jupyter-futures {role}: --tls-key/--tls-ca need --tls-cert (the certificate this {role} presents)")
    cert = {f"tls_{role}_cert": args.tls_cert, f"tls_{role}_key": args.tls_key}
    if role == "worker":  # a worker is also a client (of the scheduler, and in tasks that submit tasks)
        cert.update(tls_client_cert=args.tls_cert, tls_client_key=args.tls_key)
    try:
        security = Security(tls_ca_file=args.tls_ca, **cert)
        security.server_context(role)
        security.client_context(role)
    except (OSError, ValueError) as exc:  # ssl.SSLError is an OSError
        sys.exit(f"jupyter-futures {role}: unusable TLS files ({exc}): check --tls-cert, --tls-key and --tls-ca")
    return security
