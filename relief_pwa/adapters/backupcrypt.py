"""Streaming authenticated encryption for backup archives (AES-256-GCM in chunks).

File layout::

    MAGIC (16 bytes) | salt (16 bytes) | chunk*
    chunk = length (4 bytes, big-endian, of nonce+ciphertext) | nonce (12) | ciphertext+tag

The file key is HKDF-SHA256(backup key, salt). Each chunk's associated data
binds the magic, its index and whether it is the last chunk, so chunks cannot
be reordered, dropped or the file cut short without decryption failing.
Fernet would need the whole archive in memory; photos make archives large.
"""

from __future__ import annotations

import io
import os
import struct
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

MAGIC = b"RELIEF-BACKUP-1\n"
CHUNK = 1024 * 1024
_NONCE = 12
_MAX_RECORD = CHUNK + _NONCE + 16


class BackupDecryptError(ValueError):
    """Wrong key, not a backup, or a damaged/truncated file."""


def _file_key(secret: str, salt: bytes) -> AESGCM:
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=b"relief-pwa backup v1").derive(
        secret.encode("utf-8")
    )
    return AESGCM(key)


def _aad(index: int, final: bool) -> bytes:
    return MAGIC + struct.pack(">QB", index, 1 if final else 0)


class EncryptingWriter(io.RawIOBase):
    """A write-only file object: plaintext in, encrypted chunks out to ``target``."""

    def __init__(self, target: BinaryIO, secret: str) -> None:
        super().__init__()
        salt = os.urandom(16)
        self._aead = _file_key(secret, salt)
        self._target = target
        self._buffer = bytearray()
        self._index = 0
        target.write(MAGIC + salt)

    def writable(self) -> bool:
        return True

    def write(self, data: bytes | bytearray | memoryview) -> int:  # type: ignore[override]
        self._buffer.extend(data)
        while len(self._buffer) > CHUNK:
            self._emit(bytes(self._buffer[:CHUNK]), final=False)
            del self._buffer[:CHUNK]
        return len(data)

    def _emit(self, plain: bytes, *, final: bool) -> None:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plain, _aad(self._index, final))
        self._target.write(struct.pack(">I", len(nonce) + len(sealed)) + nonce + sealed)
        self._index += 1

    def close(self) -> None:
        if not self.closed:
            self._emit(bytes(self._buffer), final=True)
            self._buffer.clear()
            self._target.flush()
        super().close()


class DecryptingReader(io.RawIOBase):
    """A read-only file object over an encrypted backup; fails on any tampering."""

    def __init__(self, source: BinaryIO, secret: str) -> None:
        super().__init__()
        head = source.read(len(MAGIC) + 16)
        if len(head) != len(MAGIC) + 16 or not head.startswith(MAGIC):
            raise BackupDecryptError("not a Sunshine Relief backup file")
        self._aead = _file_key(secret, head[len(MAGIC) :])
        self._source = source
        self._pending = b""
        self._index = 0
        self._done = False

    def readable(self) -> bool:
        return True

    def _next_chunk(self) -> None:
        size_bytes = self._source.read(4)
        if len(size_bytes) != 4:
            raise BackupDecryptError("the backup file is truncated")
        (size,) = struct.unpack(">I", size_bytes)
        if size > _MAX_RECORD or size < _NONCE + 16:
            raise BackupDecryptError("the backup file is damaged")
        record = self._source.read(size)
        if len(record) != size:
            raise BackupDecryptError("the backup file is truncated")
        nonce, sealed = record[:_NONCE], record[_NONCE:]
        for final in (False, True):
            try:
                self._pending = self._aead.decrypt(nonce, sealed, _aad(self._index, final))
            except InvalidTag:
                continue
            self._index += 1
            if final:
                self._done = True
                if self._source.read(1):
                    raise BackupDecryptError("the backup file has data after its end")
            return
        raise BackupDecryptError("wrong backup key, or the backup file was altered")

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        while not self._pending and not self._done:
            self._next_chunk()
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size
