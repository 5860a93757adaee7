//! A proxied round trip over loopback: client → gateway (session check on every request) →
//! upstream, side by side with the same client talking to the upstream directly. The ratio of the
//! two is what to read; absolute times depend on the machine.

use std::net::SocketAddr;

use bytes::Bytes;
use criterion::{Criterion, criterion_group, criterion_main};
use http_body_util::{BodyExt, Empty};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

type HttpClient = Client<HttpConnector, Empty<Bytes>>;

async fn get(client: &HttpClient, uri: &http::Uri, cookie: Option<&str>) -> http::StatusCode {
    let mut req = http::Request::builder().uri(uri.clone());
    if let Some(cookie) = cookie {
        req = req.header("cookie", cookie);
    }
    let Ok(req) = req.body(Empty::new()) else {
        return http::StatusCode::BAD_REQUEST;
    };
    match client.request(req).await {
        Ok(resp) => {
            let status = resp.status();
            let _ = resp.into_body().collect().await;
            status
        }
        Err(_) => http::StatusCode::BAD_GATEWAY,
    }
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let any: SocketAddr = "127.0.0.1:0".parse().expect("addr");
    let (gw, upstream) = rt.block_on(async {
        let upstream = benches::upstream().await.expect("upstream");
        let dir = std::env::temp_dir().join(format!("round-trip-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let file = dir.join("kong.yml");
        std::fs::write(
            &file,
            benches::documented_flow(&format!("http://{upstream}"), false),
        )
        .expect("config");
        let gw = gateway::Gateway::builder()
            .proxy_listen(any)
            .admin_listen(any)
            .declarative_config(&file)
            .start()
            .await
            .expect("gateway");
        (gw, upstream)
    });
    let client: HttpClient = Client::builder(TokioExecutor::new()).build_http();
    let via_gateway: http::Uri = format!("http://{}/anything", gw.proxy_addr())
        .parse()
        .expect("uri");
    let direct: http::Uri = format!("http://{upstream}/anything").parse().expect("uri");
    let cookie = rt.block_on(async {
        let req = http::Request::builder()
            .uri(via_gateway.clone())
            .header("apikey", "hello_world")
            .body(Empty::new())
            .expect("request");
        let resp = client.request(req).await.expect("login");
        resp.headers()
            .get("set-cookie")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .expect("a session cookie")
            .to_owned()
    });
    assert_eq!(rt.block_on(get(&client, &via_gateway, Some(&cookie))), 200);

    let mut group = c.benchmark_group("round_trip");
    group.bench_function("direct to upstream", |b| {
        b.to_async(&rt).iter(|| get(&client, &direct, None))
    });
    group.bench_function("via gateway, session cookie", |b| {
        b.to_async(&rt)
            .iter(|| get(&client, &via_gateway, Some(&cookie)));
    });
    group.finish();
    drop(gw);
}

criterion_group!(benches, bench);
criterion_main!(benches);
