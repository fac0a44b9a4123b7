//! Layers on every answer of a listener: the security headers every response carries, and
//! the HTTP/2 request body kept until the response is sent.

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use axum::body::{Body, Bytes, HttpBody};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderName, HeaderValue, Version, header};
use axum::middleware::Next;
use axum::response::Response;
use http_body::{Frame, SizeHint};
use parking_lot::Mutex;

/// HSTS: a year; browsers then never try this host over plain HTTP.
fn hsts() -> HeaderValue {
    HeaderValue::from_static("max-age=31536000")
}

/// The policy of anything that is not a page (JSON, OCSP, CRLs, certificates): nothing may
/// load or frame it.
fn api_csp() -> HeaderValue {
    HeaderValue::from_static("default-src 'none'; frame-ancestors 'none'")
}

fn set_default(h: &mut HeaderMap, name: HeaderName, value: HeaderValue) {
    if !h.contains_key(&name) {
        h.insert(name, value);
    }
}

fn common(h: &mut HeaderMap) {
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    // Pages set their own (stricter, script- and style-aware) policy and referrer policy.
    set_default(h, header::CONTENT_SECURITY_POLICY, api_csp());
    set_default(h, header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
}

/// Every HTTPS answer: HSTS, `nosniff`, a Content-Security-Policy and a Referrer-Policy.
pub(crate) async fn https_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.insert(header::STRICT_TRANSPORT_SECURITY, hsts());
    common(h);
    resp
}

/// Every plain-HTTP answer: `nosniff`, a Content-Security-Policy and a Referrer-Policy (HSTS
/// means nothing over plain HTTP).
pub(crate) async fn http_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    common(resp.headers_mut());
    resp
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

/// A response body that holds the request body until it is dropped (after the last frame).
struct KeepRequest {
    inner: Body,
    _request: Arc<Mutex<Body>>,
}

impl HttpBody for KeepRequest {
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

/// Over HTTP/2, a handler that answers before reading the whole request body (a body over the
/// size limit: 413; a refusal decided by the headers) would drop the body first, and the h2
/// layer then cancels the stream (`RST_STREAM(CANCEL)`), so the client sees a reset instead of
/// the answer. Keeping the request body alive until the response has been sent makes the
/// reset a `NO_ERROR` after a complete response (RFC 9113 §8.1), and clients read the 413.
pub(crate) async fn h2_body_outlives_response(req: Request, next: Next) -> Response {
    if req.version() != Version::HTTP_2 {
        return next.run(req).await;
    }
    let (parts, body) = req.into_parts();
    let shared = Arc::new(Mutex::new(body));
    let req = Request::from_parts(parts, Body::new(SharedBody(shared.clone())));
    let (parts, body) = next.run(req).await.into_parts();
    Response::from_parts(parts, Body::new(KeepRequest { inner: body, _request: shared }))
}
