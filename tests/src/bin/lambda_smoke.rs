//! Smoke run of the six deployable binaries of one architecture: each starts (under an emulator
//! when the architecture is not the machine's) against the Runtime API stub, answers one real
//! event fixture, and the answer is checked. Storage is moto's, as `infra/smoke.sh` starts it.
//!
//! `lambda-smoke <lambda-dir> [runner ...]`, e.g.
//! `lambda-smoke target/lambda-arm64 qemu-aarch64 -L /usr/aarch64-linux-gnu`.
//! Emulated timings mean nothing, so none are reported.

use std::{
    path::PathBuf,
    process::{Command, ExitCode, Stdio},
    time::Duration,
};

use integration_tests::runtime_api::{REQUEST_ID, RuntimeApi};
use serde_json::Value;

/// Long enough for an emulated cold start and a few moto calls on a busy 2-core machine.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(180);

/// One function, the fixture it is given, and what its answer must hold.
struct Case {
    function: &'static str,
    fixture: &'static str,
    check: fn(&Value) -> Result<(), String>,
}

fn status(answer: &Value, want: u64) -> Result<(), String> {
    match answer["statusCode"].as_u64() {
        Some(s) if s == want => Ok(()),
        other => Err(format!("statusCode {other:?}, expected {want}")),
    }
}

/// The API Gateway answer's body as JSON (`null` when empty).
fn body(answer: &Value) -> Value {
    answer["body"]
        .as_str()
        .and_then(|b| serde_json::from_str(b).ok())
        .unwrap_or(Value::Null)
}

const CASES: &[Case] = &[
    Case {
        function: "connect",
        fixture: "apigw-v2/connect-halopsa.json",
        // A private site address is refused before any request leaves, naming the field.
        check: |a| {
            status(a, 422)?;
            let fields = body(a)["errors"].to_string();
            fields
                .contains("site_url")
                .then_some(())
                .ok_or(format!("no site_url error: {fields}"))
        },
    },
    Case {
        function: "oauth-callback",
        fixture: "apigw-v2/oauth-callback-ninjaone.json",
        // An unknown state sends the browser back to the portal with the reason.
        check: |a| {
            status(a, 303)?;
            let location = a["headers"]["location"].as_str().unwrap_or_default();
            location
                .contains("error=invalid_state")
                .then_some(())
                .ok_or(format!("location {location:?}"))
        },
    },
    Case {
        function: "configure",
        fixture: "apigw-v2/configure-list-integrations.json",
        check: |a| {
            status(a, 200)?;
            let cards = body(a)["integrations"].as_array().map_or(0, Vec::len);
            (cards >= 3)
                .then_some(())
                .ok_or(format!("{cards} integration cards"))
        },
    },
    Case {
        function: "map",
        fixture: "apigw-v2/map-put-plan.json",
        check: |a| status(a, 201),
    },
    Case {
        function: "sync",
        fixture: "eventbridge/scheduled.json",
        // The hourly fan-out over an empty table: nothing to dispatch, and it says so.
        check: |a| match (a["connections"].as_u64(), a["messages"].as_u64()) {
            (Some(0), Some(0)) => Ok(()),
            _ => Err("no dispatch summary".into()),
        },
    },
    Case {
        function: "revoke",
        fixture: "apigw-v2/revoke-autotask.json",
        check: |a| status(a, 204),
    },
];

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let Some(lambda_dir) = args.next().map(PathBuf::from) else {
        eprintln!("usage: lambda-smoke <lambda-dir> [runner ...]");
        return ExitCode::from(2);
    };
    let runner: Vec<String> = args.collect();
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures");
    let sdk = integration_tests::moto().await;
    let table = integration_tests::moto_table(&sdk).await;
    let queue = integration_tests::moto_queue(&sdk).await;
    let endpoint = std::env::var("MOTO_ENDPOINT").expect("run through infra/smoke.sh");
    let env = [
        ("TABLE_NAME", table.as_str()),
        ("QUEUE_URL", queue.as_str()),
        ("PORTAL_URL", "https://portal.example/integrations"),
        ("PUBLIC_API_URL", "https://api.example"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "testing"),
        ("AWS_SECRET_ACCESS_KEY", "testing"),
        ("AWS_ENDPOINT_URL", endpoint.as_str()),
        ("RUST_LOG", "warn"),
    ];
    let mut failed = 0;
    for case in CASES {
        let binary = lambda_dir.join(case.function).join("bootstrap");
        let event = std::fs::read(fixtures.join(case.fixture)).expect("the fixture exists");
        let api = RuntimeApi::start(event).await;
        let mut command = match runner.split_first() {
            Some((program, rest)) => {
                let mut c = Command::new(program);
                c.args(rest).arg(&binary);
                c
            }
            None => Command::new(&binary),
        };
        let mut child = match command
            .env_clear()
            .envs(api.lambda_env())
            .envs(env)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
        {
            Ok(child) => child,
            Err(e) => {
                println!(
                    "FAIL {}: cannot start {}: {e}",
                    case.function,
                    binary.display()
                );
                failed += 1;
                continue;
            }
        };
        let exchange = api.answered(ANSWER_TIMEOUT).await;
        let _ = child.kill();
        let _ = child.wait();
        let verdict = match exchange {
            None => Err("no answer".to_owned()),
            Some(x) if x.outcome.as_deref() != Some("response") => Err(format!(
                "invocation {REQUEST_ID} failed: {}",
                String::from_utf8_lossy(&x.answer)
            )),
            Some(x) => serde_json::from_slice::<Value>(&x.answer)
                .map_err(|e| format!("answer is not JSON: {e}"))
                .and_then(|answer| (case.check)(&answer).map(|()| answer)),
        };
        match verdict {
            Ok(answer) => {
                let shown = answer
                    .get("statusCode")
                    .map_or_else(|| answer.to_string(), |s| format!("statusCode {s}"));
                println!(
                    "ok   {} answered {} with {shown}",
                    binary.display(),
                    case.fixture
                );
            }
            Err(why) => {
                println!("FAIL {} on {}: {why}", binary.display(), case.fixture);
                failed += 1;
            }
        }
    }
    println!(
        "smoke run: {} of {} functions answered as expected",
        CASES.len() - failed,
        CASES.len()
    );
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
