//! The signer's own listener (`cairn signer --signer-rpc-addr`): `cairn_signPayout` and
//! nothing else, never on the public JSON-RPC port, and only for callers that present a
//! credential: `Authorization: Bearer <secret>`, or HTTP Basic with any user name and the
//! secret as password (bitcoind's cookie style, `__cookie__:<secret>`). The secret is
//! `--signer-rpc-token` if given, else a random one written at each start to the cookie
//! file (`<data-dir>/signer.cookie`, `__cookie__:<hex>`, owner-only) for the coordinator's
//! operator to hand over. A request without a valid credential gets HTTP 401 and an empty
//! body, as bitcoind answers.

use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use base64::Engine as _;
use jsonrpsee::server::{HttpBody, HttpRequest, HttpResponse, ServerHandle};
use tower::{Layer, Service};

use crate::wire::SignerApiServer as _;
use crate::{Error, Result, Signer};

const TARGET: &str = "cairn::signer";

/// The cookie file's name in the signer's data directory.
pub const COOKIE_FILE: &str = "signer.cookie";

/// The user name of cookie credentials.
pub const COOKIE_USER: &str = "__cookie__";

/// The secret callers must present.
#[derive(Clone)]
pub struct SignerAuth {
    secret: Arc<str>,
}

impl std::fmt::Debug for SignerAuth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SignerAuth(..)")
    }
}

impl SignerAuth {
    /// A fixed secret (`--signer-rpc-token`).
    pub fn token(secret: &str) -> Self {
        Self {
            secret: secret.into(),
        }
    }

    /// A fresh random secret, written to `dir/signer.cookie` (replacing an old one).
    pub fn cookie(dir: &Path) -> Result<(Self, PathBuf)> {
        let secret = hex::encode(rand::random::<[u8; 32]>());
        let path = dir.join(COOKIE_FILE);
        write_owner_only(&path, &format!("{COOKIE_USER}:{secret}"))?;
        Ok((
            Self {
                secret: secret.into(),
            },
            path,
        ))
    }

    /// Whether an `Authorization` header value carries the secret.
    pub fn accepts(&self, header: Option<&str>) -> bool {
        let Some(header) = header else {
            return false;
        };
        let presented = if let Some(token) = header.strip_prefix("Bearer ") {
            token.trim().to_owned()
        } else if let Some(encoded) = header.strip_prefix("Basic ") {
            let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim())
            else {
                return false;
            };
            let Ok(text) = String::from_utf8(decoded) else {
                return false;
            };
            match text.split_once(':') {
                Some((_, password)) => password.to_owned(),
                None => return false,
            }
        } else {
            return false;
        };
        constant_time_eq(presented.as_bytes(), self.secret.as_bytes())
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn write_owner_only(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    let io = |e| Error::io("write", path, e);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(io)?;
    file.write_all(contents.as_bytes()).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Serves `signer` on `addr` behind `auth`; returns the bound address and the handle.
pub async fn serve(
    addr: SocketAddr,
    signer: Arc<Signer>,
    auth: SignerAuth,
) -> Result<(SocketAddr, ServerHandle)> {
    let config = jsonrpsee::server::ServerConfig::builder()
        .max_request_body_size(1 << 20)
        .http_only()
        .build();
    let server = jsonrpsee::server::Server::builder()
        .set_config(config)
        .set_http_middleware(tower::ServiceBuilder::new().layer(AuthLayer { auth }))
        .build(addr)
        .await
        .map_err(|e| Error::io("listen on", Path::new(&addr.to_string()), e))?;
    let bound = server
        .local_addr()
        .map_err(|e| Error::io("listen on", Path::new(&addr.to_string()), e))?;
    let handle = server.start(signer.into_rpc());
    tracing::info!(target: TARGET, addr = %bound, "signer listener: cairn_signPayout, credentials required");
    Ok((bound, handle))
}

/// Refuses requests without the signer's credential.
#[derive(Clone)]
struct AuthLayer {
    auth: SignerAuth,
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Auth {
            inner,
            auth: self.auth.clone(),
        }
    }
}

#[derive(Clone)]
struct Auth<S> {
    inner: S,
    auth: SignerAuth,
}

type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl<S, B> Service<HttpRequest<B>> for Auth<S>
where
    S: Service<HttpRequest<B>, Response = HttpResponse>,
    S::Error: Into<BoxError> + 'static,
    S::Future: Send + 'static,
{
    type Response = HttpResponse;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = std::result::Result<HttpResponse, BoxError>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<std::result::Result<(), BoxError>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, request: HttpRequest<B>) -> Self::Future {
        let header = request
            .headers()
            .get(http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok());
        if self.auth.accepts(header) {
            let future = self.inner.call(request);
            return Box::pin(async move { future.await.map_err(Into::into) });
        }
        tracing::warn!(target: TARGET, "refused a signer request without valid credentials");
        Box::pin(async {
            let mut response = HttpResponse::new(HttpBody::empty());
            *response.status_mut() = http::StatusCode::UNAUTHORIZED;
            Ok(response)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_secret_is_accepted() {
        let auth = SignerAuth::token("s3cret");
        assert!(auth.accepts(Some("Bearer s3cret")));
        let basic = base64::engine::general_purpose::STANDARD.encode("__cookie__:s3cret");
        assert!(auth.accepts(Some(&format!("Basic {basic}"))));
        assert!(!auth.accepts(None));
        assert!(!auth.accepts(Some("Bearer s3cre")));
        assert!(!auth.accepts(Some("Bearer s3cret2")));
        let wrong = base64::engine::general_purpose::STANDARD.encode("__cookie__:nope");
        assert!(!auth.accepts(Some(&format!("Basic {wrong}"))));
        assert!(!auth.accepts(Some("Basic !!!")));
        assert!(!auth.accepts(Some("s3cret")));
    }
}
