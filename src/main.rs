use clap::Parser;
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_env("MAILPORT_LOG").unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = mailport::cli::Cli::parse();
    match mailport::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            match e.downcast_ref::<mailport::cli::LeaseHeldExit>() {
                Some(_) => std::process::ExitCode::from(mailport::cli::LeaseHeldExit::CODE),
                None => std::process::ExitCode::FAILURE,
            }
        }
    }
}
