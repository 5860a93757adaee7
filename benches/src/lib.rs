//! Inputs shared by the benches: the documented key-auth + session flow as a declarative document,
//! and a minimal upstream. The benches themselves are in `benches/`; the load benchmark against
//! nginx is `load/run.sh`.

use std::convert::Infallible;
use std::net::SocketAddr;

use bytes::Bytes;
use http_body_util::Full;

/// The documented flow, with `alex` also terminated with 200 so that the pipeline bench never
/// needs an upstream: a request still runs session, key-auth and request-termination.
pub fn documented_flow(upstream: &str, terminate_alex: bool) -> String {
    let alex = if terminate_alex {
        "  - name: request-termination\n    service: bench\n    consumer: alex\n    config: { status_code: 200, message: ok }\n"
    } else {
        ""
    };
    format!(
        r#"_format_version: "3.0"
services:
  - name: bench
    url: {upstream}
    routes: [{{ name: bench, paths: [/] }}]
    plugins:
      - name: session
        config: {{ secret: bench-secret, cookie_secure: false }}
      - name: key-auth
        config: {{ anonymous: 81823632-10c0-4098-a4f7-31062520c1e6 }}
consumers:
  - username: alex
    keyauth_credentials: [{{ key: hello_world }}]
  - username: anonymous_users
    id: 81823632-10c0-4098-a4f7-31062520c1e6
plugins:
  - name: request-termination
    service: bench
    consumer: anonymous_users
    config: {{ status_code: 403, message: Forbidden }}
{alex}"#
    )
}

/// An upstream answering every request `200 {"ok":true}` on 127.0.0.1:0.
pub async fn upstream() -> std::io::Result<SocketAddr> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_req| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                        br#"{"ok":true}"#,
                    ))))
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Ok(addr)
}
