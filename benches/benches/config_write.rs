//! What a configuration change costs at scale (issue 9): an Admin-API-style write through
//! `Shared::write` and a full `Snapshot::compile` with 100,000 consumers (each with a key-auth
//! credential) and 10,000 routes, route matching with 10 vs 10,000 prefix routes, and a key
//! lookup with 10 vs 1,000,000 credentials. Every input is built outside `b.iter`.

use std::hint::black_box;
use std::sync::Arc;

use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use gateway::model::{Consumer, Credential, CredentialTable, Db, Route, Service};
use gateway::plugins::{Catalogue, Deps};
use gateway::router::Router;
use gateway::schema::Source;
use gateway::snapshot::Snapshot;
use gateway::state::Shared;
use serde_json::json;

const SERVICE: &str = "00000000-0000-4000-8000-000000000000";

fn id(kind: u32, n: usize) -> String {
    format!("{kind:08x}-0000-4000-8000-{n:012x}")
}

fn route(n: usize) -> Route {
    Route::from_value(
        json!({"id": id(2, n), "paths": [format!("/r{n:06}")], "service": {"id": SERVICE},
               "created_at": n}),
        Source::Json,
    )
    .expect("route")
}

/// A Db with `consumers` consumers (one key-auth credential each) and `routes` routes on one
/// service, filled straight into the tables (the Admin API path checks uniqueness per row).
fn db(catalogue: &Catalogue, consumers: usize, routes: usize) -> Db {
    let mut db = Db::default();
    let service = Service::from_value(
        json!({"id": SERVICE, "name": "s", "url": "http://127.0.0.1:9"}),
        Source::Json,
    )
    .expect("service");
    db.services.insert(SERVICE.to_owned(), service);
    for n in 0..routes {
        db.routes.insert(id(2, n), route(n));
    }
    let schema = gateway::model::PluginCatalogue::entity(catalogue, "keyauth_credentials")
        .expect("key-auth is in the catalogue");
    let mut table = CredentialTable {
        schema,
        rows: Default::default(),
        expiring: Default::default(),
    };
    for n in 0..consumers {
        let (cid, kid) = (id(3, n), id(4, n));
        let consumer = Consumer::from_value(
            json!({"id": cid, "username": format!("user-{n}")}),
            Source::Json,
        )
        .expect("consumer");
        db.consumers.insert(cid.clone(), consumer);
        let value = json!({"id": kid, "consumer": {"id": cid}, "key": format!("key-{n}"),
                           "created_at": 0, "ttl": null, "tags": null});
        table.rows.insert(
            kid.clone(),
            Credential {
                id: kid,
                consumer_id: cid,
                created_at: 0,
                expires_at: None,
                value,
            },
        );
    }
    db.credentials.insert(schema.table, table);
    let plugin = gateway::model::Plugin::from_value(
        json!({"id": id(5, 0), "name": "key-auth"}),
        Source::Json,
        catalogue,
    )
    .expect("plugin");
    db.plugins.insert(plugin.id.clone(), plugin);
    db
}

fn config_write(c: &mut Criterion) {
    let catalogue = Arc::new(Catalogue::new(Deps::in_memory()));
    let big = db(&catalogue, 100_000, 10_000);
    let clock = gateway::Clock::system();
    let shared = Shared::new(big.clone(), clock.clone(), Arc::clone(&catalogue)).expect("state");

    let mut group = c.benchmark_group("config_write");
    group.sample_size(20);
    let mut n = 0usize;
    group.bench_function(
        "Shared::write insert consumer (100k consumers, 10k routes)",
        |b| {
            b.iter(|| {
                n += 1;
                let now = clock.now();
                shared
                    .write(|db| {
                        db.insert_consumer(
                            json!({"username": format!("new-{n}")}),
                            Source::Json,
                            now,
                        )
                    })
                    .expect("write")
            });
        },
    );
    group.bench_function(
        "Shared::write patch route (100k consumers, 10k routes)",
        |b| {
            b.iter(|| {
                n += 1;
                let now = clock.now();
                shared
                    .write(|db| {
                        db.update_route(
                            &id(2, 5_000),
                            json!({"tags": [format!("t{n}")]}),
                            Source::Json,
                            now,
                        )
                    })
                    .expect("write")
            });
        },
    );
    group.bench_function("Db::insert_consumer alone (100k consumers)", |b| {
        b.iter_batched(
            || big.clone(),
            |mut db| db.insert_consumer(json!({"username": "alone"}), Source::Json, 1),
            BatchSize::SmallInput,
        );
    });
    let base = Snapshot::compile(&big, &catalogue).expect("compile");
    let mut next = big.clone();
    next.insert_consumer(json!({"username": "one-more"}), Source::Json, 1)
        .expect("insert");
    group.bench_function("Snapshot::update after one consumer insert", |b| {
        b.iter(|| base.update(black_box(&next), &catalogue).expect("update"));
    });
    group.bench_function("Snapshot::compile (100k consumers, 10k routes)", |b| {
        b.iter(|| Snapshot::compile(black_box(&big), &catalogue).expect("compile"));
    });
    group.finish();
}

fn router(c: &mut Criterion) {
    let mut group = c.benchmark_group("router");
    for count in [10usize, 10_000] {
        let routes: Vec<Route> = (0..count).map(route).collect();
        let router = Router::new(routes.iter());
        // The request matches the oldest route, and with a fall-through miss.
        let hit = format!("/r{:06}/x", count - 1);
        group.bench_function(format!("find, {count} prefix routes"), |b| {
            b.iter(|| router.find("GET", Some("example.com"), black_box(&hit)));
        });
        group.bench_function(format!("miss, {count} prefix routes"), |b| {
            b.iter(|| router.find("GET", Some("example.com"), black_box("/nothing/here")));
        });
    }
    group.finish();
}

fn key_lookup(c: &mut Criterion) {
    let catalogue = Arc::new(Catalogue::new(Deps::in_memory()));
    let schema = gateway::model::PluginCatalogue::entity(catalogue.as_ref(), "keyauth_credentials")
        .expect("key-auth");
    let mut group = c.benchmark_group("key_lookup");
    for count in [10usize, 1_000_000] {
        let snapshot = Snapshot::compile(&db(&catalogue, count, 1), &catalogue).expect("compile");
        let key = format!("key-{}", count / 2);
        group.bench_function(format!("credential, {count} keys"), |b| {
            b.iter_batched(
                || (),
                |()| {
                    snapshot
                        .credential(schema, black_box(&key), 0)
                        .map(|c| c.id.len())
                },
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, config_write, router, key_lookup);
criterion_main!(benches);
