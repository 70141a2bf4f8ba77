//! Cold start of the six function binaries against a hello-world `lambda_runtime` binary built
//! with the same profile in the same run: time from process start until the runtime first asks
//! a local Runtime API stub for an invocation (init), and until it answers the first one (an
//! API Gateway v2 or EventBridge fixture); peak RSS after the first answer; binary and zip
//! sizes. Needs `cargo lambda build --release` first and moto (run through `./tests/bench.sh`).
//!
//! The ratio is against the hello-world as the `lambda_runtime` examples run it (multi-thread
//! runtime); a second column gives the ratio against the same hello-world on the
//! single-threaded runtime the functions use, which isolates what the functions' own init costs.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use integration_tests::runtime_api::RuntimeApi;

/// Rounds; each starts every binary once. The table shows medians: single starts vary by a
/// millisecond, and the machine's pace drifts by a few tenths of one over a minute.
const RUNS: usize = 41;

/// The pause before each start.
const SETTLE: Duration = Duration::from_millis(100);

fn peak_rss_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn zip_size(binary: &Path) -> u64 {
    // The deployment package is a zip of `bootstrap`; compress it as the deploy tooling would.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("bootstrap.zip");
    let status = Command::new("python3")
        .args(["-c", "import sys, zipfile; z = zipfile.ZipFile(sys.argv[2], 'w', zipfile.ZIP_DEFLATED); z.write(sys.argv[1], 'bootstrap'); z.close()"])
        .arg(binary)
        .arg(&out)
        .status()
        .expect("python3 runs");
    assert!(status.success());
    std::fs::metadata(&out).unwrap().len()
}

/// One row of the table: which binary starts, with which first event and extra environment.
struct Case {
    row: &'static str,
    binary: &'static str,
    event: &'static str,
    extra_env: &'static [(&'static str, &'static str)],
}

impl Case {
    fn new(binary: &'static str, event: &'static str) -> Self {
        Self {
            row: binary,
            binary,
            event,
            extra_env: &[],
        }
    }
}

/// A case resolved: the binary's path, the event's bytes, the whole environment.
struct Start {
    binary: PathBuf,
    event: Vec<u8>,
    env: Vec<(String, String)>,
}

struct Measure {
    init: Duration,
    first: Duration,
    rss_kib: u64,
}

async fn measure(binary: &Path, event: &[u8], env: &[(String, String)]) -> Measure {
    let api = RuntimeApi::start(event.to_vec()).await;
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(api.lambda_env())
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("binary starts");
    let exchange = api
        .answered(Duration::from_secs(30))
        .await
        .expect("the function answered");
    let rss_kib = peak_rss_kib(child.id()).unwrap_or(0);
    let _ = child.kill();
    let _ = child.wait();
    Measure {
        init: exchange.first_next.unwrap() - started,
        first: exchange.answered.unwrap() - started,
        rss_kib,
    }
}

/// Each round's init over the baseline's init in the same round, sorted.
fn paired_ratios(inits: &[Duration], baseline: &[Duration]) -> Vec<f64> {
    let mut ratios: Vec<f64> = inits
        .iter()
        .zip(baseline)
        .map(|(i, b)| i.as_secs_f64() / b.as_secs_f64())
        .collect();
    ratios.sort_by(f64::total_cmp);
    ratios
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    // `LAMBDA_BINARIES` points at another build of the same binaries (e.g. target/release
    // after `cargo build --profile bench`), for quicker iterations than cargo lambda's.
    let lambda_dir = std::env::var("LAMBDA_BINARIES")
        .map(PathBuf::from)
        .unwrap_or_else(|_| root.join("target/lambda-x86_64"));
    let fixtures = root.join("tests/fixtures");
    let sdk = integration_tests::moto().await;
    let table = integration_tests::moto_table(&sdk).await;
    let queue = integration_tests::moto_queue(&sdk).await;
    let endpoint = std::env::var("MOTO_ENDPOINT").expect("run through ./tests/bench.sh");
    let env: Vec<(String, String)> = [
        ("TABLE_NAME", table.as_str()),
        ("QUEUE_URL", queue.as_str()),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("RUST_LOG", "info"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    // The first row is the baseline every ratio is taken against: the hello-world on the
    // multi-thread runtime of `#[tokio::main]`, as the `lambda_runtime` examples run. The second
    // is the same binary on the single-threaded runtime the functions use, for the ratio over
    // the same runtime.
    let cases = [
        Case::new("hello-lambda", "eventbridge/scheduled.json"),
        Case {
            row: "hello-lambda (current_thread)",
            extra_env: &[("HELLO_RUNTIME", "current_thread")],
            ..Case::new("hello-lambda", "eventbridge/scheduled.json")
        },
        Case::new("connect", "apigw-v2/connect-halopsa.json"),
        Case::new("oauth-callback", "apigw-v2/oauth-callback-ninjaone.json"),
        Case::new("configure", "apigw-v2/configure-list-integrations.json"),
        Case::new("map", "apigw-v2/map-put-plan.json"),
        Case::new("sync", "eventbridge/scheduled.json"),
        Case::new("revoke", "apigw-v2/revoke-autotask.json"),
    ];
    let starts: Vec<Start> = cases
        .iter()
        .map(|case| {
            let name = case.binary;
            let binary = [
                lambda_dir.join(name).join("bootstrap"),
                lambda_dir.join(name),
            ]
            .into_iter()
            .find(|p| p.is_file())
            .unwrap_or_else(|| lambda_dir.join(name).join("bootstrap"));
            assert!(
                binary.exists(),
                "{} is missing: run `ARCHS=x86_64 ./infra/package.sh -p hello-lambda` first",
                binary.display()
            );
            let env = env
                .iter()
                .cloned()
                .chain(
                    case.extra_env
                        .iter()
                        .map(|(k, v)| (k.to_string(), v.to_string())),
                )
                .collect();
            Start {
                event: std::fs::read(fixtures.join(case.event)).unwrap(),
                binary,
                env,
            }
        })
        .collect();
    // Rounds visit every binary in turn, so a busy moment of the machine touches all of them
    // alike rather than one binary's runs; the ratio is taken within each round, against the
    // hello-world start of that round, so a drift in the machine's pace between rounds cancels.
    let mut measured: Vec<Vec<Measure>> = cases.iter().map(|_| Vec::new()).collect();
    for _ in 0..RUNS {
        for (start, runs) in starts.iter().zip(&mut measured) {
            // Let the previous start's tail settle first: moto finishing its work, the killed
            // process's memory being freed. Both share this machine's cores.
            tokio::time::sleep(SETTLE).await;
            runs.push(measure(&start.binary, &start.event, &start.env).await);
        }
    }
    let inits = |runs: &[Measure]| runs.iter().map(|m| m.init).collect::<Vec<_>>();
    let hello = inits(&measured[0]);
    let hello_current_thread = inits(&measured[1]);
    let mut rows = Vec::new();
    for ((case, start), runs) in cases.iter().zip(&starts).zip(&measured) {
        let init = median(inits(runs));
        let first = median(runs.iter().map(|m| m.first).collect());
        let rss = runs.iter().map(|m| m.rss_kib).max().unwrap_or(0);
        let ratios = paired_ratios(&inits(runs), &hello);
        let same_runtime = paired_ratios(&inits(runs), &hello_current_thread);
        rows.push((
            case.row,
            init,
            first,
            ratios[ratios.len() / 2],
            (ratios[ratios.len() / 4], ratios[ratios.len() * 3 / 4]),
            same_runtime[same_runtime.len() / 2],
            rss,
            std::fs::metadata(&start.binary).unwrap().len(),
            zip_size(&start.binary),
        ));
    }
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "cold start: medians of {RUNS} rounds, each starting every binary once (release profile, x86_64); the ratio is taken within each round"
    )
    .unwrap();
    writeln!(out, "| binary | init (start -> first /next) | first answer | init / hello-world | middle half of ratios | init / current_thread hello-world | peak RSS | binary | zip |").unwrap();
    writeln!(out, "|---|---|---|---|---|---|---|---|---|").unwrap();
    for (name, init, first, ratio, (low, high), same_runtime, rss, size, zip) in rows {
        writeln!(
            out,
            "| {name} | {:.2} ms | {:.1} ms | {ratio:.2} | {low:.2}-{high:.2} | {same_runtime:.2} | {:.1} MiB | {:.1} MB | {:.1} MB |",
            init.as_secs_f64() * 1000.0,
            first.as_secs_f64() * 1000.0,
            rss as f64 / 1024.0,
            size as f64 / 1e6,
            zip as f64 / 1e6
        )
        .unwrap();
    }
    writeln!(out, "targets: init ratio <= 1.5, each zip <= 8 MB").unwrap();
}
