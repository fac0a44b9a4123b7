//! `carecert check-config FILE`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;

/// `carecert check-config`.
#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The configuration file to check
    pub file: PathBuf,
    /// Print the result as JSON
    #[arg(long)]
    pub json: bool,
}

/// Exit 0 and a one-line summary when the file is valid; exit 1 and every problem otherwise.
pub fn run(args: &CheckArgs) -> ExitCode {
    let result = super::load(&args.file).and_then(|c| c.validate());
    let file = args.file.display();
    match (result, args.json) {
        (Ok(s), false) => {
            println!("{file}: valid ({})", s.summary());
            ExitCode::SUCCESS
        }
        (Ok(s), true) => {
            println!(
                "{}",
                serde_json::json!({"file": args.file, "valid": true, "summary": s.summary(), "problems": []})
            );
            ExitCode::SUCCESS
        }
        (Err(problems), false) => {
            let n = problems.len();
            eprintln!("{file}: {n} problem{}:", if n == 1 { "" } else { "s" });
            for p in &problems {
                eprintln!("  {p}");
            }
            ExitCode::FAILURE
        }
        (Err(problems), true) => {
            println!("{}", serde_json::json!({"file": args.file, "valid": false, "problems": problems}));
            ExitCode::FAILURE
        }
    }
}
