//! The accept loops of both listeners (HTTPS and plain HTTP), and what they enforce before a
//! byte of TLS or HTTP is read: the test environment's allow-list, a connection cap per
//! listener and per source, then a TLS handshake timeout, a header-read timeout (which is also
//! the keep-alive timeout between HTTP/1.1 requests) and an idle timeout on every connection
//! (no byte moved either way: closed — HTTP/2 included).

use std::collections::HashMap;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::service::TowerToHyperService;
use parking_lot::Mutex;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};
use tower::ServiceExt;

use crate::limits::{Limits, source_of};
use crate::state::Access;
use crate::tls::{ClientCertificates, PeerAddr};

/// A connection that is closed when no byte has moved either way for `idle`.
pub(crate) struct IdleIo<T> {
    inner: T,
    idle: Duration,
    last: Instant,
    timer: Pin<Box<Sleep>>,
}

impl<T> IdleIo<T> {
    pub(crate) fn new(inner: T, idle: Duration) -> Self {
        Self { inner, idle, last: Instant::now(), timer: Box::pin(tokio::time::sleep(idle)) }
    }

    /// Called when the inner stream is not ready: registers the timer, and fails once the
    /// connection has been idle for too long.
    fn check(&mut self, cx: &mut Context<'_>) -> io::Result<()> {
        while self.timer.as_mut().poll(cx).is_ready() {
            let deadline = self.last + self.idle;
            if Instant::now() >= deadline {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle for too long"));
            }
            self.timer.as_mut().reset(deadline);
        }
        Ok(())
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for IdleIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    this.last = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for IdleIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write(cx, buf) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.last = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_write_vectored(cx, bufs) {
            Poll::Ready(r) => {
                if matches!(r, Ok(n) if n > 0) {
                    this.last = Instant::now();
                }
                Poll::Ready(r)
            }
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_flush(cx) {
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
            ready => ready,
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        match Pin::new(&mut this.inner).poll_shutdown(cx) {
            Poll::Pending => {
                this.check(cx)?;
                Poll::Pending
            }
            ready => ready,
        }
    }
}

/// Open connections of one listener, in total and per source.
pub(crate) struct ConnGate {
    total: AtomicUsize,
    per_source: Mutex<HashMap<IpAddr, usize>>,
    max_total: usize,
    max_per_source: usize,
}

/// One admitted connection; dropping it frees its place.
pub(crate) struct ConnPermit {
    gate: Arc<ConnGate>,
    source: IpAddr,
}

impl ConnGate {
    pub(crate) fn new(max_total: usize, max_per_source: usize) -> Arc<Self> {
        Arc::new(Self { total: AtomicUsize::new(0), per_source: Mutex::new(HashMap::new()), max_total, max_per_source })
    }

    /// A place for a connection from `ip`, or None when the listener or the source is full.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<ConnPermit> {
        let source = source_of(ip);
        let mut per = self.per_source.lock();
        if self.total.load(Ordering::Relaxed) >= self.max_total {
            return None;
        }
        let n = per.entry(source).or_insert(0);
        if *n >= self.max_per_source {
            return None;
        }
        *n += 1;
        self.total.fetch_add(1, Ordering::Relaxed);
        Some(ConnPermit { gate: self.clone(), source })
    }
}

impl Drop for ConnPermit {
    fn drop(&mut self) {
        let mut per = self.gate.per_source.lock();
        if let Some(n) = per.get_mut(&self.source) {
            *n -= 1;
            if *n == 0 {
                per.remove(&self.source);
            }
        }
        self.gate.total.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a listener speaks.
#[derive(Clone)]
pub(crate) enum Transport {
    /// HTTPS: TLS first; HTTP/2 when ALPN chose it, HTTP/1.1 otherwise.
    Tls(tokio_rustls::TlsAcceptor),
    /// Plain HTTP/1.1 (or HTTP/2 with prior knowledge).
    Plain,
}

/// The HTTP connection builder with the limits' timeouts.
fn builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut b = auto::Builder::new(TokioExecutor::new());
    b.http1().timer(TokioTimer::new()).header_read_timeout(limits.header_read_timeout);
    b.http2().timer(TokioTimer::new());
    b
}

/// Accepts connections until `stop`, then lets open requests finish (at most 10 seconds).
pub(crate) async fn serve(
    listener: tokio::net::TcpListener,
    transport: Transport,
    app: Router,
    limits: Arc<Limits>,
    access: Access,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let gate = ConnGate::new(limits.max_connections, limits.max_connections_per_source);
    let mut refused_full = 0u64;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.wait_for(|s| *s) => break,
        };
        let (tcp, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        // A test deployment does not talk to addresses outside its allow-list at all.
        if !access.admits(peer.ip()) {
            tracing::debug!(%peer, "closed at accept: not on the test environment's allow-list");
            continue;
        }
        let Some(permit) = gate.admit(peer.ip()) else {
            refused_full += 1;
            if refused_full.is_power_of_two() {
                tracing::warn!(%peer, refused = refused_full, "connection closed at accept: connection cap reached (limits.max_connections / max_connections_per_source)");
            }
            continue;
        };
        let _ = tcp.set_nodelay(true);
        let io = IdleIo::new(tcp, limits.idle_timeout);
        let transport = transport.clone();
        let app = app.clone();
        let limits = limits.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let mut builder = builder(&limits);
            match transport {
                Transport::Plain => {
                    let svc = app.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(PeerAddr(peer));
                        req
                    });
                    let conn = builder.serve_connection(TokioIo::new(io), TowerToHyperService::new(svc));
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                Transport::Tls(acceptor) => {
                    let tls = match tokio::time::timeout(limits.tls_handshake_timeout, acceptor.accept(io)).await {
                        Ok(Ok(t)) => t,
                        Ok(Err(e)) => {
                            tracing::debug!(%peer, error = %e, "TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            tracing::debug!(%peer, "TLS handshake timed out");
                            return;
                        }
                    };
                    let conn_state = tls.get_ref().1;
                    let h2 = conn_state.alpn_protocol() == Some(b"h2");
                    let certs = ClientCertificates(Arc::new(
                        conn_state
                            .peer_certificates()
                            .map(|c| c.iter().map(|c| c.clone().into_owned()).collect())
                            .unwrap_or_default(),
                    ));
                    let svc = app.map_request(move |mut req: axum::http::Request<hyper::body::Incoming>| {
                        req.extensions_mut().insert(certs.clone());
                        req.extensions_mut().insert(PeerAddr(peer));
                        req
                    });
                    // ALPN decided the protocol: no guessing from the first bytes.
                    builder = if h2 { builder.http2_only() } else { builder.http1_only() };
                    let conn = builder.serve_connection(TokioIo::new(tls), TowerToHyperService::new(svc));
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
        });
    }
    drop(listener);
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}

#[cfg(test)]
mod tests {
    use super::ConnGate;

    #[test]
    fn the_gate_caps_per_source_and_in_total_and_frees_on_drop() {
        let gate = ConnGate::new(3, 2);
        let a = "10.0.0.1".parse().unwrap();
        let mapped_a = "::ffff:10.0.0.1".parse().unwrap();
        let b = "10.0.0.2".parse().unwrap();
        let first = gate.admit(a).unwrap();
        let _second = gate.admit(mapped_a).unwrap();
        assert!(gate.admit(a).is_none(), "a third from one source (mapped counts as IPv4)");
        let _third = gate.admit(b).unwrap();
        assert!(gate.admit("10.0.0.3".parse().unwrap()).is_none(), "the listener is full");
        drop(first);
        assert!(gate.admit(a).is_some(), "a place was freed");
    }
}
