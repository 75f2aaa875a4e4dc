//! TLS for SSL_GET, as keepalived's SSL_GET does it: the server's certificate is not
//! checked (a health check asks whether the service answers, not who it is; keepalived
//! checks none unless told to, and xvs has no setting for it), SNI only when configured.
//!
//! Invariant: the handshake and every read and write are bounded by the socket timeouts
//! the caller set on the TCP stream; nothing here blocks longer.

use std::net::{SocketAddr, TcpStream};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

/// Accepts any certificate, but still checks that the handshake is signed by it.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// The client configuration, `with_sni` or without (made once each).
fn config(with_sni: bool) -> Result<Arc<ClientConfig>, String> {
    static CONFIGS: OnceLock<Result<[Arc<ClientConfig>; 2], String>> = OnceLock::new();
    let made = CONFIGS.get_or_init(|| {
        let make = |sni: bool| -> Result<Arc<ClientConfig>, String> {
            let provider = Arc::new(ring::default_provider());
            let mut c = ClientConfig::builder_with_provider(provider.clone())
                .with_safe_default_protocol_versions()
                .map_err(|e| format!("TLS configuration: {e}"))?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth();
            c.enable_sni = sni;
            Ok(Arc::new(c))
        };
        Ok([make(false)?, make(true)?])
    });
    made.as_ref().map(|c| c[usize::from(with_sni)].clone()).map_err(String::clone)
}

/// A TLS session over `tcp` (connected to `target`, timeouts set), sending `sni` when it is
/// not empty. The handshake happens on the first read or write.
pub fn client(
    tcp: TcpStream,
    target: SocketAddr,
    sni: &str,
) -> Result<StreamOwned<ClientConnection, TcpStream>, String> {
    let name: ServerName<'static> = if sni.is_empty() {
        ServerName::IpAddress(target.ip().into())
    } else {
        ServerName::try_from(sni.to_string()).map_err(|e| format!("SNI name {sni:?}: {e}"))?
    };
    let conn = ClientConnection::new(config(!sni.is_empty())?, name).map_err(|e| format!("TLS: {e}"))?;
    Ok(StreamOwned::new(conn, tcp))
}
