//! The provider's keys: the realm's RSA key that signs access and ID tokens (RS256, published in the JWKS), and
//! a per-process HMAC key that signs refresh tokens (HS512, never published), as Keycloak does.
//!
//! The key id is Keycloak's (`KeyUtils.createKeyId`): base64url of the SHA-256 of the public key's
//! SubjectPublicKeyInfo DER, so a Keycloak that imports the same realm `privateKey` publishes the same `kid`.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::jwk::{
    AlgorithmParameters, CommonParameters, Jwk, JwkSet, KeyAlgorithm, PublicKeyUse,
    RSAKeyParameters, RSAKeyType,
};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header};
use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPrivateKey};
use rsa::pkcs8::{DecodePrivateKey, EncodePublicKey};
use rsa::sha2::{Digest, Sha256};
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};

/// Signing and verification keys of one running provider.
pub(crate) struct Keys {
    rsa_kid: String,
    rsa_encoding: EncodingKey,
    rsa_decoding: DecodingKey,
    jwks: JwkSet,
    public_key_der_b64: String,
    hmac_kid: String,
    hmac_encoding: EncodingKey,
    hmac_decoding: DecodingKey,
}

impl Keys {
    /// Keys from an RSA private key (PEM, PKCS#8 or PKCS#1, or the bare base64 body Keycloak's realm `privateKey`
    /// holds) plus a fresh random HMAC secret.
    pub(crate) fn from_rsa_private_key(text: &str) -> Result<Self, String> {
        let private = parse_private_key(text)?;
        let public = RsaPublicKey::from(&private);
        let spki = public
            .to_public_key_der()
            .map_err(|error| format!("cannot encode the public key: {error}"))?;
        let rsa_kid = URL_SAFE_NO_PAD.encode(Sha256::digest(spki.as_bytes()));
        let pkcs1 = private
            .to_pkcs1_der()
            .map_err(|error| format!("cannot encode the private key: {error}"))?;
        let n = URL_SAFE_NO_PAD.encode(public.n().to_bytes_be());
        let e = URL_SAFE_NO_PAD.encode(public.e().to_bytes_be());
        let rsa_decoding = DecodingKey::from_rsa_components(&n, &e)
            .map_err(|error| format!("cannot build the verification key: {error}"))?;
        let jwk = Jwk {
            common: CommonParameters {
                public_key_use: Some(PublicKeyUse::Signature),
                key_algorithm: Some(KeyAlgorithm::RS256),
                key_id: Some(rsa_kid.clone()),
                ..CommonParameters::default()
            },
            algorithm: AlgorithmParameters::RSA(RSAKeyParameters {
                key_type: RSAKeyType::RSA,
                n,
                e,
            }),
        };
        let mut secret = Vec::with_capacity(64);
        for _ in 0..4 {
            secret.extend_from_slice(uuid::Uuid::new_v4().as_bytes());
        }
        Ok(Self {
            rsa_kid,
            rsa_encoding: EncodingKey::from_rsa_der(pkcs1.as_bytes()),
            rsa_decoding,
            jwks: JwkSet { keys: vec![jwk] },
            public_key_der_b64: STANDARD.encode(spki.as_bytes()),
            hmac_kid: uuid::Uuid::new_v4().to_string(),
            hmac_encoding: EncodingKey::from_secret(&secret),
            hmac_decoding: DecodingKey::from_secret(&secret),
        })
    }

    /// The published key set (`…/protocol/openid-connect/certs`).
    pub(crate) fn jwks(&self) -> &JwkSet {
        &self.jwks
    }

    /// The public key as base64 DER (SubjectPublicKeyInfo), as Keycloak's realm endpoint shows it.
    pub(crate) fn public_key_der_b64(&self) -> &str {
        &self.public_key_der_b64
    }

    /// Header and key that sign access and ID tokens.
    pub(crate) fn rsa_signer(&self) -> (Header, &EncodingKey) {
        let mut header = Header::new(Algorithm::RS256);
        header.kid = Some(self.rsa_kid.clone());
        (header, &self.rsa_encoding)
    }

    /// Header and key that sign refresh tokens.
    pub(crate) fn hmac_signer(&self) -> (Header, &EncodingKey) {
        let mut header = Header::new(Algorithm::HS512);
        header.kid = Some(self.hmac_kid.clone());
        (header, &self.hmac_encoding)
    }

    /// The key that verifies access and ID tokens.
    pub(crate) fn rsa_verifier(&self) -> &DecodingKey {
        &self.rsa_decoding
    }

    /// The key that verifies refresh tokens.
    pub(crate) fn hmac_verifier(&self) -> &DecodingKey {
        &self.hmac_decoding
    }
}

/// Parses an RSA private key given as PEM (PKCS#8 `PRIVATE KEY` or PKCS#1 `RSA PRIVATE KEY`) or as the bare
/// base64 of its DER (what Keycloak's realm `privateKey` holds).
fn parse_private_key(text: &str) -> Result<RsaPrivateKey, String> {
    let text = text.trim();
    if text.starts_with("-----BEGIN") {
        return RsaPrivateKey::from_pkcs8_pem(text)
            .or_else(|_| RsaPrivateKey::from_pkcs1_pem(text))
            .map_err(|error| format!("not a PEM RSA private key: {error}"));
    }
    let body: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let der = STANDARD
        .decode(body.as_bytes())
        .map_err(|error| format!("not base64: {error}"))?;
    RsaPrivateKey::from_pkcs8_der(&der)
        .or_else(|_| RsaPrivateKey::from_pkcs1_der(&der))
        .map_err(|error| format!("not a DER RSA private key: {error}"))
}

/// `at_hash`: base64url of the left half of the SHA-256 of the access token (OpenID Connect Core §3.1.3.6).
pub(crate) fn at_hash(access_token: &str) -> String {
    let digest = Sha256::digest(access_token.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..digest.len() / 2])
}
