//! Handshake and basic exchanges over the simulator.

use std::time::Duration;

use filo_sim::{Body, Pair, PairConfig, RequestSpec, pattern_sha256};

#[test]
fn handshake_and_get() {
    let mut p = Pair::with_apps(
        PairConfig::default(),
        [
            RequestSpec::get("/bytes/5000"),
            RequestSpec::get("/status/204"),
        ],
    );
    assert!(
        p.run_requests(Duration::from_secs(10)),
        "requests did not finish"
    );
    let conn = p.conn;
    let app = p.client_app();
    assert!(app.errors.is_empty(), "{:?}", app.errors);
    assert_eq!(app.connected, vec![conn]);
    let ex: Vec<_> = app.order.iter().map(|k| &app.exchanges[k]).collect();
    assert_eq!(ex[0].status(), Some(200));
    assert_eq!(ex[0].body.len, 5000);
    assert_eq!(ex[0].body.sha256, Some(pattern_sha256(0, 5000)));
    assert_eq!(ex[1].status(), Some(204));
    assert_eq!(ex[1].body.len, 0);
}

#[test]
fn echo_upload() {
    let body = Body::Pattern {
        seed: 9,
        len: 300_000,
    };
    let mut p = Pair::with_apps(
        PairConfig::default(),
        [RequestSpec::post("/echo", body.clone())],
    );
    assert!(p.run_requests(Duration::from_secs(10)));
    let app = p.client_app();
    let ex = &app.exchanges[&app.order[0]];
    assert_eq!(ex.body.sha256, Some(body.sha256()));
}
