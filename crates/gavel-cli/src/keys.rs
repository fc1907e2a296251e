//! `gavel keys`: the public half of the key material, for verifiers.

use clap::Subcommand;
use gavel_core::Gavel;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum KeysCommand {
    /// Print the log signing public key: verifier key string (signed-note), key id and SPKI PEM.
    Show {
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(gavel: &Gavel, cmd: KeysCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        KeysCommand::Show { json } => {
            let key = gavel.log_public_key();
            if json {
                crate::print_json(&serde_json::json!({ "log": key }));
            } else {
                println!("log signing key (checkpoints, {})", key.algorithm);
                println!("  name:         {}", key.name);
                println!("  key id:       {}", key.key_id);
                println!("  verifier key: {}", key.verifier_key);
                print!("{}", key.public_key_pem);
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
