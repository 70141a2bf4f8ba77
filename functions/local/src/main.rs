//! `cargo run -p local`: the whole API on 127.0.0.1:8080 over embedded storage.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use local::{Runner, sandbox_mode::Sandboxes};
use secrecy::SecretString;
use shared::{
    config::Settings,
    providers::{DeploymentSecret, DeploymentSecrets},
    telemetry,
};

/// The msp-integrations local runner.
#[derive(Parser)]
#[command(version, about)]
struct Cli {
    /// Port to listen on (127.0.0.1 only).
    #[arg(long, env = "LOCAL_PORT", default_value_t = 8080, global = true)]
    port: u16,
    /// Where the embedded store, the secrets key and the token key live.
    #[arg(
        long,
        env = "LOCAL_DATA_DIR",
        default_value = ".local-data",
        global = true
    )]
    data_dir: PathBuf,
    /// Serve with sandbox vendors and demo data (the default unless AUTOTASK_INTEGRATION_CODE
    /// configures a real Autotask).
    #[arg(long, conflicts_with = "no_sandbox")]
    sandbox: bool,
    /// Use the configured vendor URLs and AUTOTASK_INTEGRATION_CODE instead of sandboxes.
    #[arg(long)]
    no_sandbox: bool,
    /// Seconds between scheduled syncs of every active connection (the local stand-in for the
    /// hourly EventBridge schedule); 0 turns them off.
    #[arg(long, env = "LOCAL_SCHEDULE_SECS", default_value_t = 3600)]
    schedule_every: u64,
    /// Browser origins allowed to call the API (CORS), `scheme://host[:port]`, repeated or
    /// comma-separated; by default the origin of the portal page (`PORTAL_URL`, else the
    /// runner's own stand-in page).
    #[arg(long = "cors-origin", env = "CORS_ORIGINS", value_delimiter = ',')]
    cors_origins: Vec<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API (the default).
    Serve,
    /// Print a token the running server accepts (signed with the data directory's key).
    Token {
        /// Tenant the token belongs to.
        #[arg(long)]
        tenant: String,
        /// Role claim value.
        #[arg(long, default_value = "admin")]
        role: String,
    },
}

/// The tenant the printed walk-through uses.
const DEMO_TENANT: &str = "demo";

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let real_vendors = std::env::var("AUTOTASK_INTEGRATION_CODE").is_ok_and(|v| !v.is_empty());
    let sandbox = cli.sandbox || !(cli.no_sandbox || real_vendors);
    let result = match cli.command.unwrap_or(Command::Serve) {
        Command::Token { tenant, role } => print_token(&cli.data_dir, &tenant, &role),
        Command::Serve => {
            let options = ServeOptions {
                port: cli.port,
                sandbox,
                schedule_every: cli.schedule_every,
                cors_origins: cli.cors_origins,
            };
            serve(&cli.data_dir, options).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

fn settings() -> Result<Settings, String> {
    Settings::from_env().map_err(|e| e.to_string())
}

fn print_token(data_dir: &std::path::Path, tenant: &str, role: &str) -> Result<(), String> {
    shared::domain::TenantId::new(tenant).map_err(|e| e.to_string())?;
    let runner = Runner::open(data_dir, settings()?, DeploymentSecret::Missing)
        .map_err(|e| e.to_string())?;
    println!("{}", runner.tokens.mint(tenant, role));
    Ok(())
}

/// How `serve` runs.
struct ServeOptions {
    port: u16,
    sandbox: bool,
    schedule_every: u64,
    cors_origins: Vec<String>,
}

async fn serve(data_dir: &std::path::Path, options: ServeOptions) -> Result<(), String> {
    let ServeOptions {
        port,
        sandbox,
        schedule_every,
        mut cors_origins,
    } = options;
    telemetry::init_json();
    let mut settings = settings()?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // The OAuth redirect comes back here, and the browser then lands on the runner's
    // stand-in for the portal page, unless the environment names real ones.
    settings
        .public_api_url
        .get_or_insert_with(|| format!("http://{addr}"));
    settings
        .portal_url
        .get_or_insert_with(|| format!("http://{addr}{}", local::PORTAL_PAGE));
    let (sandboxes, code) = if sandbox {
        let sandboxes = Sandboxes::start().await;
        let code = sandboxes.configure(&mut settings);
        (Some(sandboxes), code)
    } else {
        let value = |var: &str| match std::env::var(var) {
            Ok(v) if !v.is_empty() => DeploymentSecret::Value(SecretString::from(v)),
            _ => DeploymentSecret::Missing,
        };
        let code = DeploymentSecrets {
            autotask_integration_code: value("AUTOTASK_INTEGRATION_CODE"),
            connectwise_client_id: value("CONNECTWISE_CLIENT_ID"),
        };
        (None, code)
    };
    if cors_origins.is_empty()
        && let Some(portal) = settings.portal_url.as_deref()
        && let Ok(url) = url::Url::parse(portal)
    {
        cors_origins.push(url.origin().ascii_serialization());
    }
    let mut runner = Runner::open(data_dir, settings, code)
        .and_then(|r| r.with_cors_origins(&cors_origins))
        .map_err(|e| e.to_string())?;
    if let Some(s) = &sandboxes {
        runner = runner.with_sandbox_info(s.info());
    }
    let token = runner.tokens.mint(DEMO_TENANT, "admin");
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))?;
    println!(
        "\nmsp-integrations local runner on http://{addr}  (data in {dir})\n\n\
         Admin token for tenant '{DEMO_TENANT}' (12 h):\n\n  export TOKEN={token}\n\n\
         Try:\n\
         \x20 curl -s http://{addr}/v1/integrations -H \"Authorization: Bearer $TOKEN\"\n\
         \x20 curl -s -X PUT http://{addr}/v1/plans/pro -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"name\":\"Pro\"}}'\n\
         \x20 curl -s -X PUT http://{addr}/v1/organizations/acme -H \"Authorization: Bearer $TOKEN\" -H 'Content-Type: application/json' -d '{{\"name\":\"Acme Dental\",\"plan_id\":\"pro\",\"seats\":25}}'\n\n\
         Other tokens: cargo run -p local -- token --tenant T [--role R]\n",
        dir = data_dir.display(),
    );
    match &sandboxes {
        Some(s) => println!(
            "Sandbox vendors (also at GET http://{addr}/sandbox):\n{}\n",
            serde_json::to_string_pretty(&s.info()).unwrap_or_default()
        ),
        None => println!("Real vendors: sandboxes are off.\n"),
    }
    if schedule_every > 0 {
        local::schedule(
            runner.app.clone(),
            std::time::Duration::from_secs(schedule_every),
        );
    }
    axum::serve(listener, runner.router())
        .with_graceful_shutdown(shutdown_signal())
        .await
        .map_err(|e| e.to_string())?;
    tracing::info!("stopped");
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
}
