"""A loopback HTTPS front for fakes of services that live at fixed ``https://`` URLs.

Some clients (``gemini-webapi``) talk to hard-coded Google hosts but accept a
proxy and a CA bundle, like any curl-based client. :class:`TLSFront` is that
proxy: it answers ``CONNECT host:443``, terminates TLS with a certificate for
``host`` signed by a throw-away test CA, and pipes the decrypted HTTP/1.1
bytes to a plain aiohttp fake on 127.0.0.1. The client keeps verifying
certificates (against :attr:`TestCA.ca_file`), so nothing is switched off.

No byte leaves the machine: every CONNECT, whatever the host, ends here.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import datetime
import shutil
import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TLSFront", "TestCA"]

_HEAD_LIMIT = 16384
_IDLE_SECONDS = 30.0
_READ_SIZE = 65536


@dataclass(frozen=True, slots=True)
class TestCA:
    """A CA and one server certificate for ``hosts``, written to a private temp dir."""

    __test__ = False  # not a pytest class

    dir: Path
    ca_file: Path
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, hosts: tuple[str, ...]) -> TestCA:
        now = datetime.datetime.now(datetime.UTC)
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "cli-proxy-api test CA")])
        ca_cert = (
            x509.CertificateBuilder()
            .subject_name(ca_name)
            .issuer_name(ca_name)
            .public_key(ca_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=2))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(
                x509.KeyUsage(
                    digital_signature=True,
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
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False
            )
            .sign(ca_key, hashes.SHA256())
        )
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])]))
            .issuer_name(ca_name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(h) for h in hosts]), critical=False
            )
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        base = Path(tempfile.mkdtemp(prefix="cliproxy-ca-"))
        atexit.register(shutil.rmtree, base, True)  # the keys go with the test process
        pem = serialization.Encoding.PEM
        (base / "ca.pem").write_bytes(ca_cert.public_bytes(pem))
        (base / "server.pem").write_bytes(cert.public_bytes(pem))
        (base / "server.key").write_bytes(
            key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        )
        return cls(base, base / "ca.pem", base / "server.pem", base / "server.key")

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        ctx.set_alpn_protocols(["http/1.1"])  # the fake behind speaks HTTP/1.1 only
        return ctx


@dataclass(slots=True)
class TLSFront:
    """``CONNECT`` proxy on 127.0.0.1 that terminates TLS and pipes to ``backend_port``."""

    ca: TestCA
    backend_port: int
    port: int = 0
    connects: list[str] = field(default_factory=list)
    _server: asyncio.Server | None = None
    _ctx: ssl.SSLContext | None = None
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> Self:
        self._ctx = self.ca.server_context()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for w in list(self._writers):
                w.close()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
            if len(head) > _HEAD_LIMIT:
                return
            method, target, _ = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ", 2)
            if method != "CONNECT":
                writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
                return
            self.connects.append(target)
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            assert self._ctx is not None
            async with asyncio.timeout(10):
                await writer.start_tls(self._ctx)
            up_reader, upstream = await asyncio.open_connection("127.0.0.1", self.backend_port)
            self._writers.add(upstream)
            await asyncio.gather(_pipe(reader, upstream), _pipe(up_reader, writer))
        except (OSError, ssl.SSLError, TimeoutError, asyncio.IncompleteReadError, ValueError):
            pass
        except asyncio.CancelledError:
            pass  # the loop is shutting down; asyncio 3.11 would log a cancelled handler
        finally:
            self._writers.discard(writer)
            if upstream is not None:
                self._writers.discard(upstream)
            for w in (upstream, writer):
                if w is not None:
                    w.close()


async def _pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
    """Copy until EOF or ``_IDLE_SECONDS`` of silence, then half-close ``dst``."""
    try:
        while True:
            async with asyncio.timeout(_IDLE_SECONDS):
                data = await src.read(_READ_SIZE)
            if not data:
                break
            dst.write(data)
            await dst.drain()
    except (OSError, ssl.SSLError, TimeoutError):
        pass
    finally:
        with contextlib.suppress(OSError, RuntimeError):
            if dst.can_write_eof():
                dst.write_eof()
            else:
                dst.close()
