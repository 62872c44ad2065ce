//! Measures what isolation costs: instantiating a compiled policy, and a
//! transform in a fresh instance against one in a warm instance.
//!
//! `cargo run --release -p leadfilter --example instantiate -- POLICY.wasm LEADS.ndjson [ROUNDS]`
//!
//! Secrets come from `LEADFILTER_SECRET_<NAME>` as in `leadfilter run`.
//! `benches/run.sh` runs this for `BENCHMARKS.md`.

use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use leadfilter::runtime::{Runtime, RuntimeOptions};
use leadfilter::secrets::Sources;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [policy, leads, rest @ ..] = args.as_slice() else {
        bail!("usage: instantiate POLICY.wasm LEADS.ndjson [ROUNDS]");
    };
    let rounds: usize = rest.first().map_or(Ok(2000), |r| r.parse())?;
    let component = std::fs::read(policy).with_context(|| format!("cannot read `{policy}`"))?;
    let leads: Vec<String> = std::fs::read_to_string(leads)?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_owned)
        .collect();
    if leads.is_empty() {
        bail!("no leads in the file");
    }

    let runtime = Runtime::new(&RuntimeOptions {
        pooling: Some(16),
        ..RuntimeOptions::default()
    })?;
    let started = Instant::now();
    let loaded = runtime.load(&component)?;
    let load = started.elapsed();
    let mut warm = loaded.instantiate()?;
    let secrets = Sources::default().read(&warm.info()?.secrets)?;

    let lead = |i: usize| leads[i % leads.len()].as_str();
    // Warm up both paths before timing.
    for i in 0..100 {
        warm.transform(lead(i), &secrets)?.ok();
        loaded.instantiate()?.transform(lead(i), &secrets)?.ok();
    }

    let mut instantiate = Duration::ZERO;
    let mut fresh = Duration::ZERO;
    let mut dropping = Duration::ZERO;
    for i in 0..rounds {
        let t0 = Instant::now();
        let mut instance = loaded.instantiate()?;
        let t1 = Instant::now();
        instance.transform(lead(i), &secrets)?.ok();
        // Dropping the instance returns its memory slot to the pool (and
        // resets it), which is part of what isolation costs.
        let t2 = Instant::now();
        drop(instance);
        dropping += t2.elapsed();
        fresh += t1.elapsed();
        instantiate += t1 - t0;
    }
    let t0 = Instant::now();
    for i in 0..rounds {
        warm.transform(lead(i), &secrets)?.ok();
    }
    let warm_total = t0.elapsed();

    let per = |d: Duration| d.as_secs_f64() * 1e6 / rounds as f64;
    let fresh_total = per(instantiate) + per(fresh);
    println!("load (cached code): {:.1} ms", load.as_secs_f64() * 1e3);
    println!("instantiate: {:.1} µs", per(instantiate));
    println!(
        "transform in a fresh instance: {:.1} µs",
        per(fresh) - per(dropping)
    );
    println!(
        "drop (slot reset for the next instance): {:.1} µs",
        per(dropping)
    );
    println!("transform in a warm instance: {:.1} µs", per(warm_total));
    println!(
        "instantiate + transform / warm transform: {:.2}",
        (fresh_total - per(dropping)) / per(warm_total)
    );
    println!(
        "instantiate + transform + drop / warm transform: {:.2}",
        fresh_total / per(warm_total)
    );
    Ok(())
}
