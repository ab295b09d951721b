//! The farm's test CA and certificates. Every SNI name gets a leaf valid for exactly that name,
//! issued by the CA on first use and kept in a bounded cache, like a real site's certificate
//! (a `*.test` wildcard would not do: rustls, like browsers, refuses a wildcard directly under
//! a top-level label). Hosts that must fail verification get a self-signed leaf, and hosts that
//! must refuse TLS get no certificate at all (an aborted handshake).
//!
//! Issuing costs one ECDSA P-256 signature. Every leaf shares one key pair, so a handshake
//! costs the farm the same with or without a cache miss, apart from that signature.

use std::{
    collections::{HashMap, HashSet},
    sync::{
        Arc, Mutex, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Instant,
};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use rustls::{
    crypto::aws_lc_rs,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::{CertifiedKey, SigningKey},
};

/// Leaves kept per cache generation: at most twice this many are held at once.
const CACHE_GENERATION: usize = 4096;

/// The CA and the server's TLS configuration.
#[derive(Debug)]
pub struct FarmTls {
    /// The test CA, PEM: trust it to talk to the farm.
    pub ca_pem: String,
    /// The acceptor configuration.
    pub config: Arc<rustls::ServerConfig>,
    /// What issuing certificates has cost so far.
    pub issuing: Arc<IssuingStats>,
}

/// Certificates issued so far and the time spent issuing them.
#[derive(Debug, Default)]
pub struct IssuingStats {
    issued: AtomicU64,
    nanos: AtomicU64,
}

impl IssuingStats {
    /// Leaf certificates issued so far (cache misses).
    pub fn issued(&self) -> u64 {
        self.issued.load(Ordering::Relaxed)
    }

    /// Time spent issuing them, in microseconds.
    pub fn micros(&self) -> u64 {
        self.nanos.load(Ordering::Relaxed) / 1000
    }
}

/// Recently issued leaves, in two generations: a hit in the older one moves the leaf to the
/// newer; when the newer is full, the older is dropped. Memory stays bounded however many
/// names the farm serves, and names in use stay cached.
#[derive(Debug, Default)]
struct Recent {
    current: HashMap<String, Arc<CertifiedKey>>,
    previous: HashMap<String, Arc<CertifiedKey>>,
}

impl Recent {
    fn get(&mut self, name: &str) -> Option<Arc<CertifiedKey>> {
        if let Some(leaf) = self.current.get(name) {
            return Some(Arc::clone(leaf));
        }
        let leaf = self.previous.remove(name)?;
        self.insert(name.to_owned(), Arc::clone(&leaf));
        Some(leaf)
    }

    fn insert(&mut self, name: String, leaf: Arc<CertifiedKey>) {
        if self.current.len() >= CACHE_GENERATION {
            self.previous = std::mem::take(&mut self.current);
        }
        self.current.insert(name, leaf);
    }
}

struct Certificates {
    issuer: Issuer<'static, KeyPair>,
    leaf_key: KeyPair,
    leaf_signer: Arc<dyn SigningKey>,
    untrusted: Arc<CertifiedKey>,
    refuse: HashSet<String>,
    untrusted_names: HashSet<String>,
    recent: Mutex<Recent>,
    serial: AtomicU64,
    stats: Arc<IssuingStats>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("refuse", &self.refuse)
            .field("untrusted_names", &self.untrusted_names)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// A leaf for exactly `name`, signed by the CA.
    fn issue(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        let started = Instant::now();
        let mut params = CertificateParams::new(vec![name.to_owned()]).ok()?;
        params
            .distinguished_name
            .push(DnType::CommonName, "favicon farm");
        params.serial_number = Some(SerialNumber::from(
            self.serial.fetch_add(1, Ordering::Relaxed),
        ));
        let leaf = params.signed_by(&self.leaf_key, &self.issuer).ok()?;
        let certified = Arc::new(CertifiedKey::new(
            vec![leaf.der().clone()],
            Arc::clone(&self.leaf_signer),
        ));
        let nanos = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.stats.issued.fetch_add(1, Ordering::Relaxed);
        self.stats.nanos.fetch_add(nanos, Ordering::Relaxed);
        Some(certified)
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = client_hello.server_name()?.to_ascii_lowercase();
        if self.refuse.contains(&name) {
            return None;
        }
        if self.untrusted_names.contains(&name) {
            return Some(Arc::clone(&self.untrusted));
        }
        let cached = self
            .recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&name);
        if cached.is_some() {
            return cached;
        }
        // Issued outside the lock: two handshakes racing for a new name both sign, harmlessly.
        let leaf = self.issue(&name)?;
        self.recent
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(name, Arc::clone(&leaf));
        Some(leaf)
    }
}

fn certified(cert: CertificateDer<'static>, key: &KeyPair) -> Arc<CertifiedKey> {
    Arc::new(CertifiedKey::new(vec![cert], signer(key)))
}

fn signer(key: &KeyPair) -> Arc<dyn SigningKey> {
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    aws_lc_rs::sign::any_supported_type(&der).expect("farm key")
}

/// A fresh CA. SNI names in `refuse` get no certificate, those in `untrusted` a self-signed
/// one, every other name a leaf of its own issued by the CA.
pub fn generate(refuse: &[&str], untrusted: &[&str]) -> FarmTls {
    let ca_key = KeyPair::generate().expect("CA key");
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "favicon farm test CA");
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");

    let stray_key = KeyPair::generate().expect("stray key");
    let stray = CertificateParams::new(
        untrusted
            .iter()
            .map(|n| (*n).to_owned())
            .collect::<Vec<_>>(),
    )
    .expect("stray params")
    .self_signed(&stray_key)
    .expect("stray certificate");

    let leaf_key = KeyPair::generate().expect("leaf key");
    let stats = Arc::new(IssuingStats::default());
    let resolver = Certificates {
        issuer: Issuer::new(ca_params, ca_key),
        leaf_signer: signer(&leaf_key),
        leaf_key,
        untrusted: certified(stray.der().clone(), &stray_key),
        refuse: refuse.iter().map(|n| (*n).to_owned()).collect(),
        untrusted_names: untrusted.iter().map(|n| (*n).to_owned()).collect(),
        recent: Mutex::default(),
        serial: AtomicU64::new(1),
        stats: Arc::clone(&stats),
    };
    let mut config =
        rustls::ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
    // Session tickets, as real servers and CDNs issue them (nginx and Apache by default):
    // a client coming back to a host resumes without a certificate, whichever of the
    // farm's thousands of connections it met first. rustls's default, a server-side cache of
    // 256 sessions, forgot them within a second at 1,024 domains in flight.
    config.ticketer = aws_lc_rs::Ticketer::new().expect("TLS session ticketer");
    FarmTls {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
        issuing: stats,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Tickets, not a server-side cache: any session the farm gave can be resumed.
    #[test]
    fn the_farm_issues_session_tickets() {
        let tls = generate(&[], &[]);
        assert!(tls.config.ticketer.enabled());
        assert!(tls.config.send_tls13_tickets > 0);
    }

    #[test]
    fn the_cache_keeps_names_in_use_and_stays_bounded() {
        let leaf = |n: usize| {
            let key = KeyPair::generate().expect("key");
            certified(
                CertificateParams::new(vec![format!("n{n}.test")])
                    .expect("params")
                    .self_signed(&key)
                    .expect("cert")
                    .der()
                    .clone(),
                &key,
            )
        };
        let mut recent = Recent::default();
        let kept = leaf(0);
        recent.insert("kept.test".to_owned(), Arc::clone(&kept));
        let other = leaf(1);
        for n in 0..3 * CACHE_GENERATION {
            recent.insert(format!("n{n}.test"), Arc::clone(&other));
            if n % 1000 == 0 {
                assert!(recent.get("kept.test").is_some(), "evicted at {n}");
            }
        }
        assert!(recent.current.len() + recent.previous.len() <= 2 * CACHE_GENERATION);
        assert!(recent.get("n0.test").is_none());
    }
}
