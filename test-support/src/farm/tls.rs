//! The farm's test CA and certificates: one leaf signed by the CA for every farm name, a
//! self-signed leaf for hosts that must fail verification, and no certificate at all (an
//! aborted handshake) for hosts that must refuse TLS.

use std::{collections::HashSet, sync::Arc};

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
use rustls::{
    crypto::aws_lc_rs,
    pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer},
    server::{ClientHello, ResolvesServerCert},
    sign::CertifiedKey,
};

/// The CA and the server's TLS configuration.
#[derive(Debug)]
pub struct FarmTls {
    /// The test CA, PEM: trust it to talk to the farm.
    pub ca_pem: String,
    /// The acceptor configuration.
    pub config: Arc<rustls::ServerConfig>,
}

#[derive(Debug)]
struct Certificates {
    trusted: Arc<CertifiedKey>,
    untrusted: Arc<CertifiedKey>,
    refuse: HashSet<String>,
    untrusted_names: HashSet<String>,
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = client_hello
            .server_name()
            .unwrap_or_default()
            .to_ascii_lowercase();
        if self.refuse.contains(&name) {
            None
        } else if self.untrusted_names.contains(&name) {
            Some(Arc::clone(&self.untrusted))
        } else {
            Some(Arc::clone(&self.trusted))
        }
    }
}

fn certified(cert: CertificateDer<'static>, key: &KeyPair) -> Arc<CertifiedKey> {
    let der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
    let signing = aws_lc_rs::sign::any_supported_type(&der).expect("farm key");
    Arc::new(CertifiedKey::new(vec![cert], signing))
}

/// A fresh CA and leaves. `names` go into the trusted leaf (wildcards allowed); SNI names in
/// `refuse` get no certificate, those in `untrusted` a self-signed one.
pub fn generate(names: &[String], refuse: &[&str], untrusted: &[&str]) -> FarmTls {
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
    let issuer = Issuer::new(ca_params, &ca_key);

    let leaf_key = KeyPair::generate().expect("leaf key");
    let mut leaf_params = CertificateParams::new(names.to_vec()).expect("leaf params");
    leaf_params
        .distinguished_name
        .push(DnType::CommonName, "favicon farm");
    let leaf = leaf_params
        .signed_by(&leaf_key, &issuer)
        .expect("leaf certificate");

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

    let resolver = Certificates {
        trusted: certified(leaf.der().clone(), &leaf_key),
        untrusted: certified(stray.der().clone(), &stray_key),
        refuse: refuse.iter().map(|n| (*n).to_owned()).collect(),
        untrusted_names: untrusted.iter().map(|n| (*n).to_owned()).collect(),
    };
    let config =
        rustls::ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(resolver));
    FarmTls {
        ca_pem: ca_cert.pem(),
        config: Arc::new(config),
    }
}
