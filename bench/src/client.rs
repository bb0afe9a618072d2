//! A bare HTTP/1.1 keep-alive connection (hyper's low-level client): no pool, no redirects,
//! no TLS, so the load generator's own cost per request stays small on the shared cores.

use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper::header::{CONTENT_ENCODING, CONTENT_TYPE, HOST, USER_AGENT};
use hyper::{Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use crate::sample::{RequestBody, USER_AGENT as BROWSER};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot connect to {addr}")]
    Connect {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("HTTP exchange with {addr} failed")]
    Http {
        addr: SocketAddr,
        #[source]
        source: hyper::Error,
    },
    #[error("cannot build a request")]
    Request(#[from] hyper::http::Error),
}

pub struct Connection {
    addr: SocketAddr,
    sender: SendRequest<Full<Bytes>>,
}

impl Connection {
    pub async fn open(addr: SocketAddr) -> Result<Self, ClientError> {
        let stream = TcpStream::connect(addr)
            .await
            .map_err(|source| ClientError::Connect { addr, source })?;
        // Requests are small and answered one at a time: don't let Nagle hold them back.
        stream
            .set_nodelay(true)
            .map_err(|source| ClientError::Connect { addr, source })?;
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|source| ClientError::Http { addr, source })?;
        // The connection's I/O runs in its own task; it ends when the sender is dropped.
        tokio::spawn(connection);
        Ok(Self { addr, sender })
    }

    /// POSTs one body to `path` (path and query) and reads the whole answer, so the
    /// connection is ready for the next request.
    pub async fn post(
        &mut self,
        path: &str,
        body: &RequestBody,
    ) -> Result<StatusCode, ClientError> {
        let mut request = Request::builder()
            .method(Method::POST)
            .uri(path)
            .header(HOST, self.addr.to_string())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, BROWSER);
        if body.gzip {
            request = request.header(CONTENT_ENCODING, "gzip");
        }
        let request = request.body(Full::new(body.bytes.clone()))?;
        self.exchange(request).await.map(|(status, _)| status)
    }

    /// GETs `path` with a bearer token and reads the whole answer.
    pub async fn get_authorized(
        &mut self,
        path: &str,
        token: &str,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let request = Request::builder()
            .method(Method::GET)
            .uri(path)
            .header(HOST, self.addr.to_string())
            .header(hyper::header::AUTHORIZATION, format!("Bearer {token}"))
            .body(Full::new(Bytes::new()))?;
        self.exchange(request).await
    }

    async fn exchange(
        &mut self,
        request: Request<Full<Bytes>>,
    ) -> Result<(StatusCode, Bytes), ClientError> {
        let addr = self.addr;
        let http = |source| ClientError::Http { addr, source };
        self.sender.ready().await.map_err(http)?;
        let response = self.sender.send_request(request).await.map_err(http)?;
        let status = response.status();
        let body = response.into_body().collect().await.map_err(http)?;
        Ok((status, body.to_bytes()))
    }
}

/// One GET on a connection of its own: readiness and metrics.
pub async fn get(addr: SocketAddr, path: &str) -> Result<(StatusCode, Bytes), ClientError> {
    let stream = TcpStream::connect(addr)
        .await
        .map_err(|source| ClientError::Connect { addr, source })?;
    let (mut sender, connection) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(stream))
        .await
        .map_err(|source| ClientError::Http { addr, source })?;
    tokio::spawn(connection);
    let request = Request::builder()
        .method(Method::GET)
        .uri(path)
        .header(HOST, addr.to_string())
        .body(Empty::new())?;
    let http = |source| ClientError::Http { addr, source };
    let response = sender.send_request(request).await.map_err(http)?;
    let status = response.status();
    let body = response.into_body().collect().await.map_err(http)?;
    Ok((status, body.to_bytes()))
}
