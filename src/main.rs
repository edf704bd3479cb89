use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    mailport::logging::init();
    let cli = mailport::cli::Cli::parse();
    match mailport::cli::run(cli).await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
