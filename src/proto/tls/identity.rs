//! The lab server's identity: a self-signed Ed25519 certificate derived from the seed.
//!
//! **Lab only**: the private key is a function of the lab seed, so anyone who knows the
//! seed can impersonate the lab server. Never trust this certificate outside a lab.

use anyhow::Context as _;
use rand_core::RngCore;
use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SerialNumber, PKCS_ED25519};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// Label of the random stream the identity (key seed and serial number) is drawn from.
pub const IDENTITY_STREAM_LABEL: &str = "tls.identity";

/// DER prefix of a PKCS#8 v1 `PrivateKeyInfo` for Ed25519 (RFC 8410): version 0,
/// algorithm id-Ed25519 (1.3.101.112), then an OCTET STRING wrapping the 32-byte seed
/// as a `CurvePrivateKey` OCTET STRING.
const ED25519_PKCS8_V1_PREFIX: [u8; 16] =
    [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20];

/// The lab certificate is valid from 1970-01-01 (so an unset [`super::TlsClock`] still
/// verifies) until this year's first of January.
const NOT_AFTER_YEAR: i32 = 2100;

/// A deterministic self-signed certificate and its key.
#[derive(Debug)]
pub struct LabIdentity {
    /// The certificate (DER). Same seed and name, same bytes.
    pub cert: CertificateDer<'static>,
    /// The PKCS#8 v1 Ed25519 private key (DER).
    pub key: PrivatePkcs8KeyDer<'static>,
}

impl LabIdentity {
    /// Derives the key from `stream(seed, "tls.identity")` and self-signs a certificate for
    /// `server_name` (a DNS name or an IP address): subject CN = `server_name`, one SAN,
    /// fixed validity 1970-01-01 .. 2100-01-01, a 16-byte serial from the same stream, no
    /// CA bit. Ed25519 signatures are deterministic, so the bytes are too.
    pub fn new(seed: u64, server_name: &str) -> anyhow::Result<Self> {
        Self::for_names(seed, &[server_name])
    }

    /// [`new`](Self::new) for a server that answers to several names: the subject CN is the
    /// first, and every one is a SAN (RFC 5280 §4.2.1.6). With one name, the same bytes as
    /// [`new`](Self::new).
    pub fn for_names(seed: u64, names: &[&str]) -> anyhow::Result<Self> {
        let server_name = *names.first().context("a certificate needs a name")?;
        let mut rng = crate::rng::stream(seed, IDENTITY_STREAM_LABEL);
        let mut key_seed = [0u8; 32];
        rng.fill_bytes(&mut key_seed);
        let mut serial = [0u8; 16];
        rng.fill_bytes(&mut serial);
        serial[0] = (serial[0] & 0x7f) | 0x40; // positive, and exactly 16 bytes long

        let mut der = Vec::with_capacity(48);
        der.extend_from_slice(&ED25519_PKCS8_V1_PREFIX);
        der.extend_from_slice(&key_seed);
        let key = PrivatePkcs8KeyDer::from(der);
        let key_pair =
            KeyPair::from_pkcs8_der_and_sign_algo(&key, &PKCS_ED25519).context("loading the lab Ed25519 key")?;

        let mut params = CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
            .with_context(|| format!("invalid lab server name in {names:?}"))?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, server_name);
        params.distinguished_name = dn;
        params.not_before = rcgen::date_time_ymd(1970, 1, 1);
        params.not_after = rcgen::date_time_ymd(NOT_AFTER_YEAR, 1, 1);
        params.serial_number = Some(SerialNumber::from_slice(&serial));
        let cert = params.self_signed(&key_pair).context("self-signing the lab certificate")?;

        Ok(Self { cert: cert.der().clone(), key })
    }

    /// The private key in the form rustls loads.
    pub fn private_key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::Pkcs8(self.key.clone_key())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_per_seed_and_name() {
        let a = LabIdentity::new(1, "server.lab").unwrap();
        let b = LabIdentity::new(1, "server.lab").unwrap();
        let c = LabIdentity::new(2, "server.lab").unwrap();
        let d = LabIdentity::new(1, "other.lab").unwrap();
        assert_eq!(a.cert, b.cert);
        assert_eq!(a.key.secret_pkcs8_der(), b.key.secret_pkcs8_der());
        assert_ne!(a.cert, c.cert);
        assert_ne!(a.key.secret_pkcs8_der(), c.key.secret_pkcs8_der());
        assert_ne!(a.cert, d.cert);
        assert_eq!(a.key.secret_pkcs8_der(), d.key.secret_pkcs8_der());
    }

    #[test]
    fn rustls_loads_the_key() {
        let id = LabIdentity::new(5, "10.0.0.2").unwrap();
        let key = rustls::crypto::ring::sign::any_supported_type(&id.private_key()).unwrap();
        assert_eq!(key.algorithm(), rustls::SignatureAlgorithm::ED25519);
    }
}
