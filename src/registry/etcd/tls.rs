//! TLS to etcd: the cluster's CA and a client certificate and key, PEM
//! files named in the config file. Built only with the `etcd-tls` feature
//! (rustls); without it a configured TLS file is an error that says so,
//! never a silent plain-text connection.

use ureq::config::ConfigBuilder;
use ureq::typestate::AgentScope;

use super::Settings;
use crate::registry::error::{Error, StorageError};

/// `config` with the TLS of `settings`, when it configures any.
#[cfg(not(feature = "etcd-tls"))]
pub fn configure(
    config: ConfigBuilder<AgentScope>,
    settings: &Settings,
) -> Result<ConfigBuilder<AgentScope>, Error> {
    if settings.ca_file.is_some() || settings.cert_file.is_some() || settings.key_file.is_some() {
        return Err(StorageError::Etcd {
            endpoints: settings.endpoints.join(","),
            why: "etcd_ca_file, etcd_cert_file or etcd_key_file is set, but this linkshim was built without TLS (the etcd-tls feature): build it with `--features etcd-tls`, or use plain http:// endpoints".into(),
        }
        .into());
    }
    Ok(config)
}

/// `config` with the TLS of `settings`, when it configures any.
#[cfg(feature = "etcd-tls")]
pub fn configure(
    config: ConfigBuilder<AgentScope>,
    settings: &Settings,
) -> Result<ConfigBuilder<AgentScope>, Error> {
    use ureq::tls::{Certificate, ClientCert, PemItem, PrivateKey, RootCerts, TlsConfig};
    let bad = |path: &std::path::Path, why: String| -> Error {
        StorageError::Etcd {
            endpoints: settings.endpoints.join(","),
            why: format!("TLS file {}: {why}", path.display()),
        }
        .into()
    };
    let read = |path: &std::path::Path| -> Result<Vec<PemItem<'static>>, Error> {
        let pem = std::fs::read(path).map_err(|e| bad(path, e.to_string()))?;
        ureq::tls::parse_pem(&pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| bad(path, e.to_string()))
    };
    let mut tls = TlsConfig::builder();
    if let Some(ca) = &settings.ca_file {
        let certs: Vec<Certificate<'static>> = read(ca)?
            .into_iter()
            .filter_map(|i| match i {
                PemItem::Certificate(c) => Some(c),
                _ => None,
            })
            .collect();
        if certs.is_empty() {
            return Err(bad(ca, "no certificate in it".into()));
        }
        tls = tls.root_certs(RootCerts::new_with_certs(&certs));
    }
    match (&settings.cert_file, &settings.key_file) {
        (Some(cert), Some(key)) => {
            let chain: Vec<Certificate<'static>> = read(cert)?
                .into_iter()
                .filter_map(|i| match i {
                    PemItem::Certificate(c) => Some(c),
                    _ => None,
                })
                .collect();
            let key_item: PrivateKey<'static> = read(key)?
                .into_iter()
                .find_map(|i| match i {
                    PemItem::PrivateKey(k) => Some(k),
                    _ => None,
                })
                .ok_or_else(|| bad(key, "no private key in it".into()))?;
            tls = tls.client_cert(Some(ClientCert::new_with_certs(&chain, key_item)));
        }
        (None, None) => {}
        (Some(p), None) | (None, Some(p)) => {
            return Err(bad(
                p,
                "etcd_cert_file and etcd_key_file go together".into(),
            ));
        }
    }
    Ok(config.tls_config(tls.build()))
}
