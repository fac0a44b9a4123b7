//! Layers on every answer of a listener: the security headers every response carries, and
//! the HTTP/2 request body kept until the response is sent.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::Router;
use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use parking_lot::Mutex;
use tower_http::set_header::SetResponseHeaderLayer;

/// HSTS: a year; browsers then never try this host over plain HTTP.
fn hsts() -> HeaderValue {
    HeaderValue::from_static("max-age=31536000")
}

/// The policy of anything that is not a page (JSON, OCSP, CRLs, certificates): nothing may
/// load or frame it.
fn api_csp() -> HeaderValue {
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")
}

/// Every plain-HTTP answer's headers: `nosniff`, a Content-Security-Policy and a
/// Referrer-Policy (`same-origin`, not `no-referrer`: under `no-referrer` browsers send
/// `Origin: null` with form posts, and the forms' same-origin check would refuse them) (pages set their own, stricter, script- and style-aware policy and referrer
/// policy first). Plain tower layers: no boxing on the OCSP path.
pub(crate) fn http_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(SetResponseHeaderLayer::overriding(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff")))
        .layer(SetResponseHeaderLayer::if_not_present(header::CONTENT_SECURITY_POLICY, api_csp()))
        .layer(SetResponseHeaderLayer::if_not_present(header::REFERRER_POLICY, HeaderValue::from_static("same-origin")))
}

/// Every HTTPS answer's headers: those of plain HTTP, and HSTS.
pub(crate) fn https_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    http_headers(router).layer(SetResponseHeaderLayer::overriding(header::STRICT_TRANSPORT_SECURITY, hsts()))
}

/// The request body, shared between the handler and the response.
struct SharedBody(Arc<Mutex<Body>>);

impl HttpBody for SharedBody {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let mut b = self.0.lock();
        Pin::new(&mut *b).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.0.lock().is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.0.lock().size_hint()
    }
}

/// A response body that holds what is left of the request body until it is dropped (after the
/// last frame has been sent).
struct KeepRequest<T> {
    inner: Body,
    _request: T,
}

impl<T: Send + Unpin + 'static> HttpBody for KeepRequest<T> {
    type Data = Bytes;
    type Error = axum::Error;
    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().inner).poll_frame(cx)
    }
    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }
    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// How much of a request body the server reads and discards, after answering early, so that
/// the client finishes sending and then reads the answer.
const DRAIN_BYTES: usize = 16 * 1024 * 1024;
/// How long it waits for that.
const DRAIN_TIME: std::time::Duration = std::time::Duration::from_secs(10);

/// Over HTTP/2, a handler that answers before reading the whole request body (a body over the
/// size limit: 413; a refusal decided by the headers) drops the body first, and the h2 layer
/// then cancels the stream (`RST_STREAM(CANCEL)`) while the client is still sending: the
/// client reports a reset instead of the answer. So the rest of the body is read and discarded
/// first (at most [`DRAIN_BYTES`], for at most [`DRAIN_TIME`]), then the answer is sent; if the
/// client sends even more, what is left is kept until the answer has been sent, so the stream
/// ends with `RST_STREAM(NO_ERROR)` after a complete answer (RFC 9113 §8.1), never `CANCEL`.
pub(crate) async fn h2_body_outlives_response(req: Request, next: Next) -> Response {
    if req.version() != Version::HTTP_2 {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let shared = Arc::new(Mutex::new(body));
    let req = Request::from_parts(parts, Body::new(SharedBody(shared.clone())));
    let (parts, inner) = next.run(req).await.into_parts();
    // The handler is done: what is left of its body is ours.
    let rest = std::mem::replace(&mut *shared.lock(), Body::empty());
    if rest.is_end_stream() {
        return Response::from_parts(parts, inner);
    }
    let mut stream = rest.into_data_stream();
    let mut drained = 0usize;
    let deadline = tokio::time::sleep(DRAIN_TIME);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            chunk = tokio_stream::StreamExt::next(&mut stream) => match chunk {
                Some(Ok(b)) => {
                    drained += b.len();
                    if drained > DRAIN_BYTES {
                        break;
                    }
                }
                _ => return Response::from_parts(parts, inner),
            },
            _ = &mut deadline => break,
        }
    }
    Response::from_parts(parts, Body::new(KeepRequest { inner, _request: stream }))
}
