//! The fuzz target bodies run in ordinary builds on fixed and random
//! inputs, so they cannot rot between fuzzing campaigns (which run them
//! with quiche's `fuzzing` feature from `fuzz/`).

use filo_sim::Rng;
use filo_sim::api_model::Op;
use filo_sim::fuzz::{self, frame};

fn random_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut r = Rng::new(seed);
    (0..len).map(|_| r.next_u64() as u8).collect()
}

#[test]
fn datagram_targets_survive_random_input() {
    for seed in 0..20 {
        let d1 = random_bytes(seed, 1300);
        let d2 = random_bytes(seed + 100, 60);
        let mut long = vec![0xc0, 0, 0, 0, 1, 8];
        long.extend_from_slice(&random_bytes(seed, 1250));
        let input = frame(&[(0, 1, &d1), (1, 2, &d2), (0x81, 5, &long)]);
        fuzz::server_datagrams(&input);
        fuzz::client_datagrams(&input);
        fuzz::server_post_handshake(&input);
        fuzz::transmit_batching(&d2);
        fuzz::retry_token(&d1[..40]);
        fuzz::header_validation(&d2);
    }
}

#[test]
fn header_validation_oracle_agrees_on_canonical_sections() {
    let section = |kind: u8, fields: &[(&str, &str)]| {
        let mut v = vec![kind];
        for (n, val) in fields {
            v.push(n.len() as u8);
            v.extend_from_slice(n.as_bytes());
            v.push(val.len() as u8);
            v.extend_from_slice(val.as_bytes());
        }
        v
    };
    fuzz::header_validation(&section(
        0,
        &[
            (":method", "GET"),
            (":scheme", "https"),
            (":authority", "a"),
            (":path", "/"),
        ],
    ));
    fuzz::header_validation(&section(
        0,
        &[(":method", "CONNECT"), (":authority", "a:1")],
    ));
    fuzz::header_validation(&section(1, &[(":status", "200"), ("content-length", "3")]));
    fuzz::header_validation(&section(1, &[(":status", "101")]));
    fuzz::header_validation(&section(2, &[("x", "y"), (":status", "1")]));
    fuzz::header_validation(&section(0, &[("Upper", "x"), (":path", "/")]));
}

#[test]
fn api_ops_keep_the_invariants() {
    let ops = [
        Op::Request {
            size: 10,
            upload: 0,
            trailers: true,
            interim: 2,
        },
        Op::Request {
            size: 300,
            upload: 50,
            trailers: false,
            interim: 0,
        },
        Op::Step(3),
        Op::Drop { to_client: true },
        Op::Reorder { to_client: false },
        Op::Duplicate { to_client: true },
        Op::ClientStop(1),
        Op::Request {
            size: 1,
            upload: 0,
            trailers: false,
            interim: 0,
        },
        Op::ServerReset(0),
        Op::Advance(50),
        Op::ServerGoaway,
        Op::Request {
            size: 2,
            upload: 0,
            trailers: false,
            interim: 0,
        },
        Op::Step(7),
        Op::Advance(700),
        Op::Close { server: false },
        Op::Step(2),
    ];
    fuzz::h3_api_ops(&ops);
}

/// Found by `h3_api_ops` (fuzz): after the client reset its own upload, a
/// `Writable` still came for it and the app's retry failed with
/// `InvalidState`. A send side that is over must wait for nothing.
#[test]
fn regression_no_writable_after_local_reset() {
    let ops = [
        Op::ClientReset(32),
        Op::ClientReset(38),
        Op::ClientStop(44),
        Op::Request {
            size: 3597,
            upload: 2319,
            trailers: true,
            interim: 68,
        },
        Op::Duplicate { to_client: false },
        Op::Advance(7709),
        Op::ClientReset(36),
        Op::ClientStop(42),
        Op::Request {
            size: 3083,
            upload: 3597,
            trailers: true,
            interim: 9,
        },
    ];
    fuzz::h3_api_ops(&ops);
}
