//! The seeded, **lab-only** crypto provider.
//!
//! # Never use this for real traffic
//!
//! Every "random" byte this provider hands to rustls (ClientHello/ServerHello randoms,
//! session ids, ticket ids and nonces, `ticket_age_add`, ephemeral X25519 key shares) is
//! drawn from a ChaCha stream seeded with the lab seed. Anyone who knows the seed knows
//! every session key. That is the point: the same seed gives byte-identical handshakes and
//! therefore byte-identical captures. It also means the connections it protects have no
//! confidentiality at all.
//!
//! Everything that is not randomness (cipher suites, signature verification, loading the
//! private key) comes from `rustls::crypto::ring::default_provider()`. Ed25519 signatures
//! are deterministic, so the server's CertificateVerify is reproducible too; ECDSA keys
//! would sign with ring's system RNG and break reproducibility, so the lab identity is
//! Ed25519 only.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use rand_chacha::ChaCha8Rng;
use rand_core::RngCore;
use rustls::crypto::{
    ActiveKeyExchange, CryptoProvider, GetRandomFailed, SecureRandom, SharedSecret, SupportedKxGroup,
};
use rustls::ffdhe_groups::FfdheGroup;
use rustls::{Error, NamedGroup, PeerMisbehaved};
use x25519_dalek::{PublicKey, StaticSecret};

/// Label of the random stream (see [`crate::rng::stream`]) behind the provider.
pub const RANDOM_STREAM_LABEL: &str = "tls.random";

/// One seeded random stream, shared by the provider's `secure_random` and its X25519
/// group so that draws happen in exactly the order rustls makes them.
type SharedRng = Arc<Mutex<ChaCha8Rng>>;

fn fill(rng: &SharedRng, buf: &mut [u8]) {
    // The simulation is single-threaded; a poisoned lock only means a test panicked
    // elsewhere, and the stream itself is still consistent.
    rng.lock().unwrap_or_else(PoisonError::into_inner).fill_bytes(buf);
}

/// `SecureRandom` backed by the lab's seeded ChaCha stream. **Lab only**: predictable.
struct SeededRandom(SharedRng);

impl fmt::Debug for SeededRandom {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeededRandom(lab only, predictable)")
    }
}

impl SecureRandom for SeededRandom {
    fn fill(&self, buf: &mut [u8]) -> Result<(), GetRandomFailed> {
        fill(&self.0, buf);
        Ok(())
    }
}

/// X25519 whose ephemeral secrets come from the seeded stream. **Lab only**: anyone
/// with the seed can recompute every shared secret.
struct SeededX25519(SharedRng);

impl fmt::Debug for SeededX25519 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SeededX25519(lab only, predictable)")
    }
}

impl SupportedKxGroup for SeededX25519 {
    fn start(&self) -> Result<Box<dyn ActiveKeyExchange>, Error> {
        let mut bytes = [0u8; 32];
        fill(&self.0, &mut bytes);
        let secret = StaticSecret::from(bytes);
        let public = PublicKey::from(&secret).to_bytes();
        Ok(Box::new(ActiveX25519 { secret, public }))
    }

    fn ffdhe_group(&self) -> Option<FfdheGroup<'static>> {
        None
    }

    fn name(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

struct ActiveX25519 {
    secret: StaticSecret,
    public: [u8; 32],
}

impl ActiveKeyExchange for ActiveX25519 {
    fn complete(self: Box<Self>, peer_pub_key: &[u8]) -> Result<SharedSecret, Error> {
        let peer: [u8; 32] = peer_pub_key.try_into().map_err(|_| Error::from(PeerMisbehaved::InvalidKeyShare))?;
        let shared = self.secret.diffie_hellman(&PublicKey::from(peer));
        if !shared.was_contributory() {
            return Err(PeerMisbehaved::InvalidKeyShare.into());
        }
        Ok(SharedSecret::from(&shared.as_bytes()[..]))
    }

    fn pub_key(&self) -> &[u8] {
        &self.public
    }

    fn ffdhe_group(&self) -> Option<FfdheGroup<'static>> {
        None
    }

    fn group(&self) -> NamedGroup {
        NamedGroup::X25519
    }
}

/// A **lab-only** `CryptoProvider` whose randomness and key exchange are a pure function
/// of `seed`: ring's cipher suites, signature verification and key loading, with
/// `secure_random` and a single X25519 key-exchange group drawing from the ChaCha stream
/// `stream(seed, "tls.random")`.
///
/// Never use it for real traffic: its keys are predictable by design.
///
/// Memory: rustls requires `&'static` references for `secure_random` and `kx_groups`,
/// so each call leaks two small objects (a few hundred bytes, sharing one ChaCha state).
/// Call it once per scenario run (that is what [`super::LabTls::new`] does), not per
/// connection.
pub fn lab_provider(seed: u64) -> CryptoProvider {
    let rng: SharedRng = Arc::new(Mutex::new(crate::rng::stream(seed, RANDOM_STREAM_LABEL)));
    let secure_random: &'static SeededRandom = Box::leak(Box::new(SeededRandom(rng.clone())));
    let x25519: &'static SeededX25519 = Box::leak(Box::new(SeededX25519(rng)));
    CryptoProvider { kx_groups: vec![x25519], secure_random, ..rustls::crypto::ring::default_provider() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seeded_random_is_reproducible() {
        let draw = |seed| {
            let p = lab_provider(seed);
            let mut a = [0u8; 48];
            p.secure_random.fill(&mut a).unwrap();
            a
        };
        assert_eq!(draw(1), draw(1));
        assert_ne!(draw(1), draw(2));
    }

    #[test]
    fn x25519_agrees_and_is_seeded() {
        let p = lab_provider(3);
        let q = lab_provider(3);
        let kx = p.kx_groups[0];
        let a = kx.start().unwrap();
        let b = kx.start().unwrap();
        assert_eq!(a.pub_key(), q.kx_groups[0].start().unwrap().pub_key());
        let (pa, pb) = (a.pub_key().to_vec(), b.pub_key().to_vec());
        assert_ne!(pa, pb);
        let sa = a.complete(&pb).unwrap();
        let sb = b.complete(&pa).unwrap();
        assert_eq!(sa.secret_bytes(), sb.secret_bytes());
        assert!(kx.start().unwrap().complete(&[0u8; 32]).is_err());
        assert!(kx.start().unwrap().complete(&[1u8; 31]).is_err());
    }
}
