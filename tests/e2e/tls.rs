//! TLS: certificates made here with `openssl` (a CA and a server certificate for 127.0.0.1),
//! the embedded broker serving MQTT over TLS to a real client that verifies it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rumqttc::{MqttOptions, TlsConfiguration, Transport};
use serde_json::json;

use crate::harness::{TestClient, embedded_builder, ok};

/// A CA and a server certificate issued by it for 127.0.0.1, in a directory removed on drop.
pub struct Pki {
    pub dir: PathBuf,
}

impl Drop for Pki {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn openssl(dir: &Path, args: &[&str]) {
    let output = std::process::Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("openssl is required for this test (scripts/test installs it): {e}"));
    assert!(output.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&output.stderr));
}

impl Pki {
    /// `ca.pem`, `server.pem` and `server.key` (readable by a broker running as another user).
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("mqttspec-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (key, days) = (["-newkey", "rsa:2048", "-nodes"], ["-days", "1"]);
        let ca =
            [&["req", "-x509"][..], &key, &days, &["-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=mqttspec CA"]];
        openssl(&dir, &ca.concat());
        let csr = [&["req"][..], &key, &["-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1"]];
        openssl(&dir, &csr.concat());
        std::fs::write(dir.join("san.ext"), "subjectAltName=IP:127.0.0.1\n").unwrap();
        openssl(
            &dir,
            &[
                "x509",
                "-req",
                "-in",
                "server.csr",
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                "server.pem",
                "-days",
                "1",
                "-extfile",
                "san.ext",
            ],
        );
        #[cfg(unix)]
        for file in ["server.key", "server.pem", "ca.pem"] {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(dir.join(file), std::fs::Permissions::from_mode(0o644)).unwrap();
        }
        Self { dir }
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.join(file)
    }
}

/// A client configuration that trusts only `ca.pem`.
fn client_tls(pki: &Pki) -> TlsConfiguration {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.path("ca.pem")).unwrap() {
        roots.add(cert.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConfiguration::Rustls(Arc::new(config))
}

/// `.tls(cert, key)`: the embedded broker's listener speaks TLS; a client that verifies the
/// certificate is served, a plaintext client is not, and a bad key file fails start-up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_broker_serves_mqtt_over_tls() {
    let pki = Pki::new("embedded-tls");
    let server = embedded_builder()
        .await
        .tls(pki.path("server.pem"), pki.path("server.key"))
        .start()
        .await
        .expect("starts with TLS");
    let port = server.local_addr().unwrap().port();

    let mut options = MqttOptions::new("tls-client", "127.0.0.1", port);
    options.set_transport(Transport::Tls(client_tls(&pki)));
    let mut c = TestClient::connect_options(options).await.expect("TLS handshake and CONNACK");
    c.subscribe_own().await;
    let created =
        ok(&c.request(json!({"operation": "create", "entity": "users", "data": {"name": "t", "email": "t@x"}})).await);
    let read = ok(&c.request(json!({"operation": "read", "entity": "users", "record_id": created["id"]})).await);
    assert_eq!(read["email"], "t@x");

    let plain = TestClient::connect(port, "plain-client", None).await;
    assert!(plain.is_err(), "a plaintext CONNECT on the TLS listener is not answered");
    c.disconnect().await;
    server.shutdown().await;

    let refused = embedded_builder().await.tls(pki.path("server.pem"), pki.path("ca.pem")).start().await;
    let message = refused.expect_err("a certificate file given as the key").message();
    assert!(message.starts_with("broker:"), "{message}");
}
