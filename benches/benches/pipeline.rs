//! The plugin pipeline without sockets: `proxy::handle` on the documented flow (session 1900,
//! key-auth 1250, request-termination 2). Every input is built outside `b.iter`.

use std::net::SocketAddr;
use std::sync::Arc;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use gateway::plugins::{Catalogue, Deps};
use gateway::proxy::{Body, handle};
use gateway::state::Shared;
use http_body_util::{BodyExt, Empty};

const CLIENT: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 40000);

fn request(headers: &[(&str, &str)]) -> http::Request<Body> {
    let mut builder = http::Request::builder().uri("/anything");
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    builder
        .body(
            Empty::<Bytes>::new()
                .map_err(|never| match never {})
                .boxed(),
        )
        .unwrap_or_default()
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let clock = gateway::Clock::system();
    let doc = benches::documented_flow("http://127.0.0.1:9", true);
    let catalogue = Arc::new(Catalogue::new(Deps::in_memory()));
    let db =
        gateway::declarative::parse_bytes(doc.as_bytes(), "bench", clock.now(), catalogue.as_ref())
            .expect("config");
    let shared: Arc<Shared> = Shared::new(db, clock, catalogue).expect("state");

    let login = rt.block_on(handle(
        Arc::clone(&shared),
        request(&[("apikey", "hello_world")]),
        CLIENT,
    ));
    let cookie = login
        .headers()
        .get("set-cookie")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .expect("a session cookie")
        .to_owned();
    assert_eq!(login.status(), 200);

    let mut group = c.benchmark_group("pipeline");
    group.bench_function(
        "session cookie (open + refresh check) then terminate",
        |b| {
            b.to_async(&rt).iter_batched(
                || request(&[("cookie", &cookie)]),
                |req| handle(Arc::clone(&shared), req, CLIENT),
                criterion::BatchSize::SmallInput,
            );
        },
    );
    group.bench_function("apikey, new session saved", |b| {
        b.to_async(&rt).iter_batched(
            || request(&[("apikey", "hello_world")]),
            |req| handle(Arc::clone(&shared), req, CLIENT),
            criterion::BatchSize::SmallInput,
        );
    });
    group.bench_function("anonymous, 403", |b| {
        b.to_async(&rt).iter_batched(
            || request(&[]),
            |req| handle(Arc::clone(&shared), req, CLIENT),
            criterion::BatchSize::SmallInput,
        );
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
