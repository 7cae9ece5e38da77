"""Certificates for the federation gateways' mutual TLS on a developer's machine and in the
tests: a throwaway CA and, per province, one certificate (server and client use, for
127.0.0.1/localhost and any other host names given) with its key, as PEM files. In production
each province's gateway certificate comes from the PKI the two provinces agree on; nothing here
is for that.

`python -m tooling.federation_pki DIR --province 34 --host federation` makes them in DIR unless
the gateway's three files are there already (docker-compose.yml's one-shot `federation-tls`)."""

from __future__ import annotations

import ipaddress
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class GatewayFiles:
    cert: Path
    key: Path
    ca: Path

    def client_context(self) -> ssl.SSLContext:
        """As the gateway calls a partner (services/federation/tls.py): the partner's certificate
        checked against the CA, this one presented."""
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(self.ca))
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(str(self.cert), str(self.key))
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Tongban development"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(key: ec.EllipticCurvePrivateKey, path: Path) -> None:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    path.chmod(0o600)


class DevelopmentCA:
    """A CA whose certificate and key are in `directory` (made on first use)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert_path = directory / "ca.pem"
        key_path = directory / "ca-key.pem"
        if self.cert_path.exists() and key_path.exists():
            self.key = serialization.load_pem_private_key(key_path.read_bytes(), None)
            self.cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            return
        directory.mkdir(parents=True, exist_ok=True)
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Tongban federation development CA"))
            .issuer_name(_name("Tongban federation development CA"))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=365))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=False,
                    content_commitment=False,
                    key_encipherment=False,
                    data_encipherment=False,
                    key_agreement=False,
                    key_cert_sign=True,
                    crl_sign=True,
                    encipher_only=False,
                    decipher_only=False,
                ),
                critical=True,
            )
            .sign(key, hashes.SHA256())
        )
        self.key = key
        _write_key(key, key_path)
        self.cert_path.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def issue(self, province: str, hosts: Sequence[str] = ()) -> GatewayFiles:
        """The gateway certificate of `province` (e.g. 34), valid for 127.0.0.1, localhost and
        `hosts` (DNS names), for serving and for calling partners."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.now(UTC)
        assert isinstance(self.key, ec.EllipticCurvePrivateKey)
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(f"federation gateway {province}"))
            .issuer_name(self.cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(minutes=5))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(
                x509.SubjectAlternativeName(
                    [
                        *(x509.DNSName(name) for name in ("localhost", *hosts)),
                        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    ]
                ),
                critical=False,
            )
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(self.key, hashes.SHA256())
        )
        files = gateway_files(self.directory, province)
        _write_key(key, files.key)
        files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return files


def gateway_files(directory: Path, province: str) -> GatewayFiles:
    return GatewayFiles(
        cert=directory / f"gateway-{province}.pem",
        key=directory / f"gateway-{province}-key.pem",
        ca=directory / "ca.pem",
    )


def main(argv: Sequence[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m tooling.federation_pki",
        description="A development CA and a federation gateway's certificate (never for "
        "production: the provinces' agreed PKI issues those).",
    )
    parser.add_argument("directory", type=Path)
    parser.add_argument("--province", default="34", help="two digits, e.g. 34")
    parser.add_argument("--host", action="append", default=[], help="a DNS name (repeat)")
    options = parser.parse_args(argv)
    wanted = gateway_files(options.directory, options.province)
    if all(path.is_file() for path in (wanted.cert, wanted.key, wanted.ca)):
        print(f"{wanted.cert}: already there, kept")
        return 0
    made = DevelopmentCA(options.directory).issue(options.province, options.host)
    print(f"{made.cert}: issued by the development CA {made.ca}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
