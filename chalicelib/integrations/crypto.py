"""KMS envelope encryption of third-party credentials.

A fresh data key per secret (``GenerateDataKey``), AES-256-GCM over the JSON, and the
encryption context {workspace, integration} bound both into KMS and into the GCM AAD:
a ciphertext copied to another integration or workspace does not decrypt.
"""

from __future__ import annotations

import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM


def _context(workspace_id: str, integration_id: str) -> dict[str, str]:
    return {"workspace_id": workspace_id, "integration_id": integration_id}


def encrypt_credentials(credentials: dict[str, str], *, workspace_id: str, integration_id: str,
                        kms: Any, key_id: str) -> dict[str, bytes]:
    """The envelope to store: encrypted data key, nonce, ciphertext."""
    context = _context(workspace_id, integration_id)
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_256", EncryptionContext=context)
    nonce = os.urandom(12)
    aad = json.dumps(context, sort_keys=True).encode()
    ciphertext = AESGCM(data_key["Plaintext"]).encrypt(nonce, json.dumps(credentials).encode(), aad)
    return {"encrypted_key": data_key["CiphertextBlob"], "nonce": nonce, "ciphertext": ciphertext}


def decrypt_credentials(envelope: dict[str, bytes], *, workspace_id: str, integration_id: str,
                        kms: Any) -> dict[str, str]:
    """The credentials, decrypted with the same encryption context."""
    context = _context(workspace_id, integration_id)
    plaintext_key = kms.decrypt(CiphertextBlob=bytes(envelope["encrypted_key"]), EncryptionContext=context)["Plaintext"]
    aad = json.dumps(context, sort_keys=True).encode()
    return json.loads(AESGCM(plaintext_key).decrypt(bytes(envelope["nonce"]), bytes(envelope["ciphertext"]), aad))
