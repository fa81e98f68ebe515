//! Test certificates generated at test time: a CA and a server leaf signed
//! by it, loaded into BoringSSL contexts in memory.

use filo_core::boring::pkey::PKey;
use filo_core::boring::ssl::{SslContextBuilder, SslMethod};
use filo_core::boring::x509::X509;
use filo_core::{ClientTls, ServerTls};

/// A throwaway PKI: one CA and a leaf for the given names.
#[derive(Debug)]
pub struct TestPki {
    /// The CA certificate, PEM.
    pub ca_pem: String,
    leaf_der: Vec<u8>,
    ca_der: Vec<u8>,
    key_der: Vec<u8>,
}

impl TestPki {
    /// A CA and a leaf valid for `names` (e.g. `["localhost"]`).
    pub fn new(names: &[&str]) -> Self {
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "filo test CA");
        let ca = ca_params.self_signed(&ca_key).expect("CA cert");
        let leaf_key = rcgen::KeyPair::generate().expect("leaf key");
        let names: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        let leaf_params = rcgen::CertificateParams::new(names).expect("leaf params");
        let issuer = rcgen::Issuer::from_params(&ca_params, &ca_key);
        let leaf = leaf_params
            .signed_by(&leaf_key, &issuer)
            .expect("leaf cert");
        Self {
            ca_pem: ca.pem(),
            ca_der: ca.der().to_vec(),
            leaf_der: leaf.der().to_vec(),
            key_der: leaf_key.serialize_der(),
        }
    }

    /// The server's TLS identity (leaf + CA chain, key), in memory.
    pub fn server_tls(&self) -> ServerTls {
        ServerTls::Context(self.server_context())
    }

    /// A BoringSSL context holding the server's identity (for raw quiche
    /// servers: `quiche::Config::with_boring_ssl_ctx_builder`).
    pub fn server_context(&self) -> SslContextBuilder {
        let mut b = SslContextBuilder::new(SslMethod::tls()).expect("ssl ctx");
        b.set_certificate(&X509::from_der(&self.leaf_der).expect("leaf der"))
            .expect("set cert");
        b.add_extra_chain_cert(X509::from_der(&self.ca_der).expect("ca der"))
            .expect("chain");
        b.set_private_key(&PKey::private_key_from_der(&self.key_der).expect("key der"))
            .expect("set key");
        b
    }

    /// A client that trusts this CA only (verification on), in memory.
    pub fn client_tls(&self) -> ClientTls {
        ClientTls::Context {
            builder: self.client_context(),
            verify: true,
        }
    }

    /// A BoringSSL context trusting this CA only (for raw quiche clients:
    /// `quiche::Config::with_boring_ssl_ctx_builder`, then `verify_peer`).
    pub fn client_context(&self) -> SslContextBuilder {
        let mut b = SslContextBuilder::new(SslMethod::tls()).expect("ssl ctx");
        b.cert_store_mut()
            .add_cert(X509::from_der(&self.ca_der).expect("ca der"))
            .expect("trust CA");
        b
    }

    /// The server's certificate chain (leaf, then CA), PEM, as
    /// `ServerTls::PemFiles` and quiche's `load_cert_chain_from_pem_file`
    /// expect.
    pub fn chain_pem(&self) -> String {
        let leaf = X509::from_der(&self.leaf_der).expect("leaf der");
        let ca = X509::from_der(&self.ca_der).expect("ca der");
        let mut out = String::from_utf8(leaf.to_pem().expect("leaf pem")).expect("utf8");
        out.push_str(&String::from_utf8(ca.to_pem().expect("ca pem")).expect("utf8"));
        out
    }

    /// The server's private key, PEM (PKCS#8).
    pub fn key_pem(&self) -> String {
        let key = PKey::private_key_from_der(&self.key_der).expect("key der");
        String::from_utf8(key.private_key_to_pem_pkcs8().expect("key pem")).expect("utf8")
    }

    /// Writes `cert.pem` (chain), `key.pem` and `ca.pem` into `dir`.
    pub fn write_files(&self, dir: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(dir.join("cert.pem"), self.chain_pem())?;
        std::fs::write(dir.join("key.pem"), self.key_pem())?;
        std::fs::write(dir.join("ca.pem"), &self.ca_pem)
    }

    /// Writes the CA as a PEM file (for `ClientTls::CaFile`).
    pub fn write_ca_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        std::fs::write(path, &self.ca_pem)
    }
}
