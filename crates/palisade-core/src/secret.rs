//! Credentials: API token secrets and user passwords (design invariant 7).
//!
//! Token secrets carry 256 random bits, so a single SHA-256 is a sound verifier for them (a slow
//! hash adds nothing against brute force of a random 256-bit value, and would make every
//! request pay for it). The token's id is embedded in the secret so the verifier can be found by
//! primary key and compared in constant time, instead of searching by hash. Passwords are chosen
//! by people, so they are hashed with Argon2id. Nothing here ever logs or displays a secret.

use std::fmt;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use data_encoding::{BASE32_NOPAD, HEXLOWER};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::error::{Error, Result};
use crate::id::{random_bytes, ApiTokenId};

const TOKEN_PREFIX: &str = "pal_";
const OPERATOR_PREFIX: &str = "palop_";

/// SHA-256 of a secret: the only form in which a token secret is stored.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    pub fn of(secret: &str) -> Self {
        Self(Sha256::digest(secret.as_bytes()).into())
    }

    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Hex form, for storage in text columns.
    pub fn to_hex(&self) -> String {
        HEXLOWER.encode(&self.0)
    }

    pub fn from_hex(hex: &str) -> Option<Self> {
        let bytes = HEXLOWER.decode(hex.as_bytes()).ok()?;
        Some(Self(bytes.try_into().ok()?))
    }

    /// Constant-time comparison of a presented secret against this hash.
    pub fn verify(&self, presented: &str) -> bool {
        let presented = Sha256::digest(presented.as_bytes());
        bool::from(self.0.ct_eq(presented.as_slice()))
    }
}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(..)")
    }
}

/// A secret shown to its owner exactly once. `Debug` never prints it.
#[derive(Clone, PartialEq, Eq)]
pub struct RevealedSecret(String);

impl RevealedSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

impl fmt::Debug for RevealedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("RevealedSecret(..)")
    }
}

fn random_text() -> String {
    BASE32_NOPAD.encode(&random_bytes::<32>()).to_ascii_lowercase()
}

/// A fresh secret for an organization's API token: `pal_<token id hex>_<random>`.
pub fn new_token_secret(id: ApiTokenId) -> (RevealedSecret, SecretHash) {
    let secret = format!("{TOKEN_PREFIX}{}_{}", HEXLOWER.encode(id.as_bytes()), random_text());
    let hash = SecretHash::of(&secret);
    (RevealedSecret(secret), hash)
}

/// A fresh operator token: `palop_<random>`.
pub fn new_operator_secret() -> (RevealedSecret, SecretHash) {
    let secret = format!("{OPERATOR_PREFIX}{}", random_text());
    let hash = SecretHash::of(&secret);
    (RevealedSecret(secret), hash)
}

/// A fresh session id (ZStack's session uuid: 32 lowercase hex characters, 128 random bits,
/// random enough for a bare SHA-256 to be its verifier, like a token's).
pub fn new_session_secret() -> (RevealedSecret, SecretHash) {
    let secret = HEXLOWER.encode(&random_bytes::<16>());
    let hash = SecretHash::of(&secret);
    (RevealedSecret(secret), hash)
}

/// What a ZStack client sends for a password: the SHA-512 of the clear text, in lowercase hex.
/// Palisade keeps an Argon2id digest of this form (never the form itself) so that a ZStack
/// login can be verified without the clear password.
pub fn sha512_hex(password: &str) -> String {
    HEXLOWER.encode(&sha2::Sha512::digest(password.as_bytes()))
}

/// The token id embedded in an organization token, if the text has that shape.
pub fn token_id_of(presented: &str) -> Option<ApiTokenId> {
    let rest = presented.strip_prefix(TOKEN_PREFIX)?;
    let (id_hex, _) = rest.split_once('_')?;
    let bytes = HEXLOWER.decode(id_hex.as_bytes()).ok()?;
    Some(ApiTokenId::from_bytes(bytes.try_into().ok()?))
}

/// An Argon2id PHC string (`$argon2id$v=19$...`), salt included.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordDigest(String);

impl PasswordDigest {
    pub fn new(password: &str) -> Result<Self> {
        let salt = SaltString::encode_b64(&random_bytes::<16>()).map_err(Error::internal)?;
        let phc = Argon2::default().hash_password(password.as_bytes(), &salt).map_err(Error::internal)?;
        Ok(Self(phc.to_string()))
    }

    pub fn from_phc(phc: String) -> Self {
        Self(phc)
    }

    pub fn as_phc(&self) -> &str {
        &self.0
    }

    /// Verifies a password; Argon2's comparison is constant time.
    pub fn verify(&self, password: &str) -> bool {
        PasswordHash::new(&self.0)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false)
    }
}

impl fmt::Debug for PasswordDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordDigest(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sha512_hex_is_what_zstack_clients_send() {
        // ZStack's manual, cookbook and SDK samples: the default admin's "password".
        assert_eq!(
            sha512_hex("password"),
            "b109f3bbbc244eb82441917ed06d618b9008dd09b3befd1b5e07394c706a8bb980b1d7785e5976ec049b46df5f1326af5a2ea6d103fd07c95385ffab0cacbc86"
        );
        let (secret, hash) = new_session_secret();
        assert_eq!(secret.expose().len(), 32);
        assert!(secret.expose().bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
        assert!(hash.verify(secret.expose()));
    }

    #[test]
    fn token_secret_verifies_and_embeds_its_id() {
        let id = ApiTokenId::random();
        let (secret, hash) = new_token_secret(id);
        assert!(hash.verify(secret.expose()));
        assert!(!hash.verify("pal_wrong"));
        assert_eq!(token_id_of(secret.expose()), Some(id));
        assert_eq!(token_id_of("Bearer nonsense"), None);
        assert_eq!(SecretHash::from_hex(&hash.to_hex()), Some(hash.clone()));
        assert!(!format!("{secret:?}{hash:?}").contains(secret.expose()));
    }

    #[test]
    fn passwords_hash_with_salt_and_verify() {
        let a = PasswordDigest::new("correct horse").unwrap();
        let b = PasswordDigest::new("correct horse").unwrap();
        assert!(a.as_phc().starts_with("$argon2id$"));
        assert_ne!(a, b, "salts must differ");
        assert!(a.verify("correct horse"));
        assert!(!a.verify("wrong horse"));
        assert!(!PasswordDigest::from_phc("garbage".into()).verify("x"));
    }
}
