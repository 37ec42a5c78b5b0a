//! `SecretSet::sign`: the `webhook-signature` of one delivery, for a small and a large
//! body, with one secret and with two (during a rotation's grace period every delivery
//! is signed twice).

use std::hint::black_box;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use skyhook_domain::signing::{SecretSet, generate_key};

/// When the benchmark signs: inside the rotated-out secret's grace period.
const NOW: i64 = 1_000_000;

fn sign(c: &mut Criterion) {
    let one = SecretSet::with_key(generate_key());
    let mut two = one.clone();
    two.rotate(generate_key(), NOW, 60_000);

    let mut group = c.benchmark_group("sign");
    for size in [256, 64 * 1024] {
        let body = vec![b'x'; size];
        group.throughput(Throughput::Bytes(size as u64));
        for (name, set) in [("1 secret", &one), ("2 secrets", &two)] {
            group.bench_with_input(BenchmarkId::new(name, size), &body, |b, body| {
                b.iter(|| {
                    set.sign(
                        black_box("msg_2zXcA8cE4QKaXq8bLdG7sWvR1fM"),
                        black_box(1_700_000_000),
                        black_box(body),
                        NOW,
                    )
                })
            });
        }
    }
    group.finish();
}

criterion_group!(benches, sign);
criterion_main!(benches);
