use clap::Parser;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    mailport::logging::init();
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
